/* libFuzzer target: user suites (qd_suite_load_file), JSONL and TAB text.
 * Input: first byte picks the format (even: .jsonl, odd: .tsv), the rest is
 * the file. Checks: never crashes; a refusal has a one-line message; an
 * accepted suite has items whose answers end in '\n', its eval set and a
 * short training stream can be built, and item starts lie inside the text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/suites.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > (1u << 20)) return 0;
    char path[4096], err[256];
    if (fuzz_write_tmp(data + 1, size - 1, (data[0] & 1) ? ".tsv" : ".jsonl", path, sizeof path)) return 0;
    qd_suite s;
    memset(&s, 0, sizeof s);
    if (qd_suite_load_file(&s, path, err, sizeof err) == 0) {
        if (s.file.n == 0) abort();
        for (size_t i = 0; i < s.file.n; i++) {
            const char *a = s.file.items[i].answer;
            size_t la = strlen(a);
            if (!la || a[la - 1] != '\n') {
                fprintf(stderr, "answer without a final newline\n");
                abort();
            }
        }
        qd_eval_set es;
        memset(&es, 0, sizeof es);
        if (qd_suite_eval_set(&s, 1, 3, &es, err, sizeof err) == 0 && es.n != (s.file.n < 3 ? s.file.n : 3)) abort();
        qd_eval_set_free(&es);
        char *text = NULL;
        size_t len = 0, *starts = NULL, ns = 0;
        if (qd_suite_train_text(&s, 7, 256, &text, &len, &starts, &ns, err, sizeof err) == 0) {
            if (len < 256 || ns == 0) abort();
            for (size_t i = 0; i < ns; i++)
                if (starts[i] >= len || (i && starts[i] <= starts[i - 1])) abort();
        } else {
            fuzz_check_msg(err, sizeof err);
        }
        free(text);
        free(starts);
        qd_suite_free(&s);
    } else {
        fuzz_check_msg(err, sizeof err);
    }
    unlink(path);
    return 0;
}
