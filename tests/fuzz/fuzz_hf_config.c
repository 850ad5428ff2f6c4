/* libFuzzer target: Hugging Face config.json and model.safetensors.index.json
 * parsers (io/hf.c). Input: JSON text, given to both. Checks: never crashes;
 * a refusal has a one-line message; an accepted config.json passes
 * qt_model_cfg_check or is refused by it in one line, and when it passes, the
 * config.json qatc writes for that model parses back to the same model config;
 * an accepted index names plain file names only. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "io/export.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (1u << 20)) return 0;
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    char err[1024];
    qt_model_cfg c;
    qt_hf_quant awq, awq2;
    if (qt_hf_config_parse(text, "config.json", &c, &awq, err, sizeof err) == 0) {
        if (qt_model_cfg_check(&c, err, sizeof err) == 0 && (size_t)c.vocab * c.dim < (1u << 20) &&
            (size_t)c.layers * c.ffn * c.dim < (1u << 22)) {
            qt_model *m = qt_model_new(&c);
            cJSON *j = qt_hf_config_json(m, "float32");
            char *back = cJSON_PrintUnformatted(j);
            qt_model_cfg c2;
            if (!back || qt_hf_config_parse(back, "written.json", &c2, &awq2, err, sizeof err)) {
                fprintf(stderr, "qatc's own config.json is refused: %s\n%s\n", err, back ? back : "(null)");
                abort();
            }
            if (memcmp(&c, &c2, sizeof c)) {
                fprintf(stderr, "config.json does not round-trip:\n%s\n---\n%s\n", text, back);
                abort();
            }
            free(back);
            cJSON_Delete(j);
            qt_model_free(m);
        } else if (err[0]) {
            fuzz_check_msg(err, sizeof err);
        }
    } else {
        fuzz_check_msg(err, sizeof err);
    }
    qt_hf_shards sh;
    if (qt_hf_index_parse(text, "index.json", &sh, err, sizeof err) == 0) {
        for (int i = 0; i < sh.n; i++)
            if (!sh.files[i][0] || strchr(sh.files[i], '/')) {
                fprintf(stderr, "index accepted a non-file-name \"%s\"\n", sh.files[i]);
                abort();
            }
        qt_hf_shards_free(&sh);
    } else {
        fuzz_check_msg(err, sizeof err);
    }
    free(text);
    return 0;
}
