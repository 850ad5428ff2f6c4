/* qat_config_doc: prints docs/config.md (generated from the config schema
 * table) to stdout.
 *   qat_config_doc > docs/config.md
 *   qat_config_doc --check config.json   validate, print the effective config */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/config.h"

int main(int argc, char **argv) {
    if (argc == 1) {
        if (qt_config_doc(stdout) || fflush(stdout)) {
            fprintf(stderr, "qat_config_doc: write error\n");
            return 1;
        }
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "--check") == 0) {
        qt_config cfg;
        char err[1024];
        if (qt_config_load(argv[2], &cfg, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        char *js = qt_config_to_json(&cfg);
        qt_config_free(&cfg);
        if (!js) {
            fprintf(stderr, "qat_config_doc: out of memory\n");
            return 1;
        }
        printf("%s\n", js);
        free(js);
        return 0;
    }
    fprintf(stderr, "usage: qat_config_doc > docs/config.md\n"
                    "       qat_config_doc --check config.json\n");
    return 2;
}
