/* libFuzzer target: the config parser and validator (run/config.c).
 * Input: JSON text. Checks: never crashes; a refusal has a one-line message;
 * an accepted config round-trips: its effective JSON parses back to the
 * same effective JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "run/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (1u << 20)) return 0;
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    qt_config cfg;
    char err[1024];
    if (qt_config_parse(text, "fuzz.json", QT_CONFIG_NO_FILE_CHECKS, &cfg, err, sizeof err) == 0) {
        char *j1 = qt_config_to_json(&cfg);
        if (j1) {
            qt_config cfg2;
            char err2[1024];
            if (qt_config_parse(j1, "effective.json", QT_CONFIG_NO_FILE_CHECKS, &cfg2, err2, sizeof err2)) {
                fprintf(stderr, "effective config refused: %s\n%s\n", err2, j1);
                abort();
            }
            char *j2 = qt_config_to_json(&cfg2);
            if (j2 && strcmp(j1, j2)) {
                fprintf(stderr, "effective config does not round-trip:\n%s\n---\n%s\n", j1, j2);
                abort();
            }
            free(j2);
            qt_config_free(&cfg2);
            free(j1);
        }
        qt_config_free(&cfg);
        qt_config_free(&cfg); /* documented as safe on a freed cfg */
    } else {
        fuzz_check_msg(err, sizeof err);
    }
    free(text);
    return 0;
}
