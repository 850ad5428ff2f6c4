/* data/suites: arith and recall generators, train/eval separation, user
 * suites from JSONL and TAB files with their errors, suites in a mixture. */
#include "data/suites.h"
#include "test_util.h"

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(2); }
    fputs(text, f);
    fclose(f);
}

static int digits_of(long long v) {
    int d = 1;
    while (v >= 10) v /= 10, d++;
    return d;
}

/* Parses "a+b=" / "a-b=" and checks answer is the result + "\n". Returns 1 if
 * correct; fills operands, op. */
static int arith_ok(const char *prompt, const char *answer, long long *a, long long *b, char *op) {
    int used = 0;
    if (sscanf(prompt, "%lld%c%lld=%n", a, op, b, &used) != 3 || used != (int)strlen(prompt)) return 0;
    if (*a < 0 || *b < 0 || (*op != '+' && *op != '-')) return 0;
    long long want = *op == '+' ? *a + *b : *a - *b;
    char buf[64];
    snprintf(buf, sizeof buf, "%lld\n", want);
    return strcmp(buf, answer) == 0;
}

static void test_arith(void) {
    char err[256];
    qd_suite s;
    CHECK(qd_suite_arith(&s, NULL, err, sizeof err) == 0, "arith: %s", err);
    CHECK(strcmp(s.name, "arith") == 0, "name %s", s.name);
    qd_eval_set ev;
    CHECK(qd_suite_eval_set(&s, 1, 2000, &ev, err, sizeof err) == 0 && ev.n == 2000, "eval set: %s", err);
    int correct = 0, seen_digits[5] = {0}, range_ok = 1;
    for (size_t i = 0; i < ev.n; i++) {
        long long a, b;
        char op;
        int ok = arith_ok(ev.items[i].prompt, ev.items[i].answer, &a, &b, &op);
        correct += ok && op == '+';
        if (ok) {
            int da = digits_of(a), db = digits_of(b);
            range_ok &= da >= 1 && da <= 4 && db >= 1 && db <= 4;
            if (da <= 4) seen_digits[da]++;
        }
    }
    CHECK(correct == 2000, "only %d of 2000 arith items are correct additions", correct);
    CHECK(range_ok, "an operand has a digit count outside 1..4");
    for (int d = 1; d <= 4; d++)
        CHECK(seen_digits[d] > 350, "%d-digit operands appear %d times of 2000 (expected ~500)", d, seen_digits[d]);
    CHECK(strcmp(ev.items[0].answer + strlen(ev.items[0].answer) - 1, "\n") == 0, "answer lacks newline");

    /* same seed: same set; other seed: different */
    qd_eval_set ev2;
    CHECK(qd_suite_eval_set(&s, 1, 50, &ev2, err, sizeof err) == 0, "%s", err);
    int same = 1;
    for (size_t i = 0; i < 50; i++) same &= strcmp(ev.items[i].prompt, ev2.items[i].prompt) == 0;
    CHECK(same, "eval set not deterministic for a seed");
    qd_eval_set_free(&ev2);
    CHECK(qd_suite_eval_set(&s, 2, 50, &ev2, err, sizeof err) == 0, "%s", err);
    int diff = 0;
    for (size_t i = 0; i < 50; i++) diff += strcmp(ev.items[i].prompt, ev2.items[i].prompt) != 0;
    CHECK(diff > 40, "seed 2 eval set differs in only %d of 50 items", diff);
    qd_eval_set_free(&ev2);

    /* training stream: correct lines, starts at item beginnings, differs from eval */
    char *text;
    size_t len, *starts, n_starts;
    CHECK(qd_suite_train_text(&s, 1, 100000, &text, &len, &starts, &n_starts, err, sizeof err) == 0, "train: %s", err);
    CHECK(len >= 100000 && strlen(text) == len, "train text length %zu", len);
    size_t lines = 0, good = 0;
    int starts_ok = n_starts > 1000 && starts[0] == 0;
    for (size_t k = 0; k < n_starts; k++) {
        starts_ok &= starts[k] < len && (starts[k] == 0 || text[starts[k] - 1] == '\n');
        size_t end = k + 1 < n_starts ? starts[k + 1] : len;
        char line[64], prompt[64];
        size_t ll = end - starts[k];
        if (ll >= sizeof line) continue;
        memcpy(line, text + starts[k], ll);
        line[ll] = '\0';
        char *eq = strchr(line, '=');
        if (!eq) continue;
        size_t pl = (size_t)(eq - line) + 1;
        memcpy(prompt, line, pl);
        prompt[pl] = '\0';
        long long a, b;
        char op;
        lines++;
        good += (size_t)arith_ok(prompt, line + pl, &a, &b, &op);
    }
    CHECK(starts_ok, "item starts are not at line beginnings");
    CHECK(lines == n_starts && good == lines, "%zu of %zu training items correct (%zu starts)", good, lines, n_starts);
    /* the first training items are not the eval items */
    int first_same = 0;
    for (size_t i = 0; i < 20; i++) {
        size_t pl = strlen(ev.items[i].prompt);
        first_same += strncmp(text + starts[i], ev.items[i].prompt, pl) == 0;
    }
    CHECK(first_same < 3, "train stream starts with the eval items (%d of 20 equal)", first_same);
    free(text);
    free(starts);
    qd_eval_set_free(&ev);

    /* 4-digit only: eval prompts almost never occur in the training text */
    qd_arith_cfg c4 = {4, 4, 0};
    CHECK(qd_suite_arith(&s, &c4, err, sizeof err) == 0, "%s", err);
    CHECK(qd_suite_train_text(&s, 1, 200000, &text, &len, NULL, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(qd_suite_eval_set(&s, 1, 200, &ev, err, sizeof err) == 0, "%s", err);
    int overlap = 0;
    for (size_t i = 0; i < ev.n; i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "\n%s", ev.items[i].prompt);
        overlap += strstr(text, needle) != NULL;
    }
    CHECK(overlap <= 2, "%d of 200 4-digit eval prompts occur in the training text", overlap);
    free(text);
    qd_eval_set_free(&ev);

    /* subtraction: both ops, never negative */
    qd_arith_cfg cs = {1, 3, 1};
    CHECK(qd_suite_arith(&s, &cs, err, sizeof err) == 0, "%s", err);
    CHECK(qd_suite_eval_set(&s, 3, 1000, &ev, err, sizeof err) == 0, "%s", err);
    int n_sub = 0, n_add = 0, all_ok = 1;
    for (size_t i = 0; i < ev.n; i++) {
        long long a, b;
        char op;
        int ok = arith_ok(ev.items[i].prompt, ev.items[i].answer, &a, &b, &op);
        all_ok &= ok && ev.items[i].answer[0] != '-';
        if (ok) n_sub += op == '-', n_add += op == '+';
    }
    CHECK(all_ok, "a subtraction item is wrong or negative");
    CHECK(n_sub > 400 && n_add > 400, "ops: %d '-', %d '+'", n_sub, n_add);
    qd_eval_set_free(&ev);

    /* bad configs */
    qd_arith_cfg bad = {0, 4, 0};
    CHECK(qd_suite_arith(&s, &bad, err, sizeof err) == -1 && strstr(err, "digits"), "min 0 accepted: %s", err);
    bad = (qd_arith_cfg){5, 4, 0};
    CHECK(qd_suite_arith(&s, &bad, err, sizeof err) == -1, "min > max accepted");
    bad = (qd_arith_cfg){1, 19, 0};
    CHECK(qd_suite_arith(&s, &bad, err, sizeof err) == -1, "19 digits accepted");
}

/* Checks a recall item: pairs kK=vV; with distinct keys, then ?kK= whose
 * answer is that key's value. */
static int recall_ok(const char *prompt, const char *answer, int *n_pairs) {
    int keys[4096], vals[4096], n = 0;
    const char *p = prompt;
    while (*p == 'k') {
        int k, v, used = 0;
        if (sscanf(p, "k%d=v%d;%n", &k, &v, &used) != 2 || used == 0 || n >= 4096) return 0;
        for (int i = 0; i < n; i++)
            if (keys[i] == k) return 0; /* keys must be distinct */
        keys[n] = k, vals[n] = v, n++;
        p += used;
    }
    int q, used = 0;
    if (sscanf(p, "?k%d=%n", &q, &used) != 1 || used == 0 || p[used] != '\0') return 0;
    *n_pairs = n;
    for (int i = 0; i < n; i++) {
        if (keys[i] == q) {
            char want[32];
            snprintf(want, sizeof want, "v%d\n", vals[i]);
            return strcmp(want, answer) == 0;
        }
    }
    return 0; /* queried key not in context */
}

static void test_recall(void) {
    char err[256];
    int sizes[3] = {64, 200, 500};
    for (int si = 0; si < 3; si++) {
        qd_recall_cfg c = qd_recall_default();
        c.ctx_bytes = sizes[si];
        qd_suite s;
        CHECK(qd_suite_recall(&s, &c, err, sizeof err) == 0, "recall %d: %s", c.ctx_bytes, err);
        qd_eval_set ev;
        CHECK(qd_suite_eval_set(&s, 1, 500, &ev, err, sizeof err) == 0, "%s", err);
        int ok = 0, fits = 1, full = 1, min_pairs = 1 << 30;
        size_t first_q_hist[2] = {0, 0};
        for (size_t i = 0; i < ev.n; i++) {
            int np = 0;
            ok += recall_ok(ev.items[i].prompt, ev.items[i].answer, &np);
            size_t tot = strlen(ev.items[i].prompt) + strlen(ev.items[i].answer);
            fits &= tot <= (size_t)c.ctx_bytes;
            /* default spaces: pair <= 9, query <= 5, answer <= 5 bytes */
            full &= tot > (size_t)c.ctx_bytes - 19;
            if (np < min_pairs) min_pairs = np;
            /* is the queried pair in the first or second half of the context? */
            const char *qk = strrchr(ev.items[i].prompt, '?');
            char key[16];
            snprintf(key, sizeof key, "%s", qk + 1); /* "kK=" */
            const char *at = strstr(ev.items[i].prompt, key);
            while (at && at != ev.items[i].prompt && at[-1] != ';') at = strstr(at + 1, key);
            if (at) first_q_hist[(size_t)(at - ev.items[i].prompt) * 2 >= (size_t)(qk - ev.items[i].prompt)]++;
        }
        CHECK(ok == 500, "ctx %d: %d of 500 recall items correct", c.ctx_bytes, ok);
        CHECK(fits, "ctx %d: an item is longer than ctx_bytes", c.ctx_bytes);
        CHECK(full, "ctx %d: an item uses less than ctx_bytes - 19", c.ctx_bytes);
        CHECK(min_pairs >= (c.ctx_bytes - 19) / 9, "ctx %d: only %d pairs", c.ctx_bytes, min_pairs);
        if (c.ctx_bytes >= 200)
            CHECK(first_q_hist[0] > 150 && first_q_hist[1] > 150, "ctx %d: queried pair positions %zu early / %zu late",
                  c.ctx_bytes, first_q_hist[0], first_q_hist[1]);
        qd_eval_set_free(&ev);

        /* training stream items are correct recall items, with 1 .. as many pairs
         * as an eval item holds (a curriculum), so more of them fit in the text
         * than full-length items would */
        char *text;
        size_t len, *starts, n_starts;
        CHECK(qd_suite_train_text(&s, 1, 20000, &text, &len, &starts, &n_starts, err, sizeof err) == 0, "%s", err);
        int tr_ok = 1, tr_min = 1 << 30, tr_max = 0;
        for (size_t k = 0; k < n_starts; k++) {
            size_t end = k + 1 < n_starts ? starts[k + 1] : len;
            char *item = malloc(end - starts[k] + 1);
            memcpy(item, text + starts[k], end - starts[k]);
            item[end - starts[k]] = '\0';
            char *eq = strrchr(item, '=');
            int np;
            char *ans = eq ? strdup(eq + 1) : NULL;
            if (eq) eq[1] = '\0';
            tr_ok &= ans && recall_ok(item, ans, &np);
            if (tr_ok && np < tr_min) tr_min = np;
            if (tr_ok && np > tr_max) tr_max = np;
            free(ans);
            free(item);
        }
        CHECK(tr_ok && n_starts > 13 * (20000 / (size_t)c.ctx_bytes) / 10, "ctx %d: bad recall training items", c.ctx_bytes);
        CHECK(tr_min == 1 && tr_max >= (c.ctx_bytes - 19) / 9 && tr_max <= min_pairs + 1,
              "ctx %d: training items hold %d..%d pairs, eval items >= %d", c.ctx_bytes, tr_min, tr_max, min_pairs);
        free(text);
        free(starts);
    }
    qd_recall_cfg tiny = qd_recall_default();
    tiny.ctx_bytes = 10;
    qd_suite s;
    CHECK(qd_suite_recall(&s, &tiny, err, sizeof err) == -1 && strstr(err, "ctx_bytes"), "ctx 10 accepted: %s", err);
    tiny = qd_recall_default();
    tiny.n_keys = 1;
    CHECK(qd_suite_recall(&s, &tiny, err, sizeof err) == -1 && strstr(err, "n_keys"), "1 key accepted: %s", err);
    /* few keys: the context holds every key once */
    tiny = qd_recall_default();
    tiny.n_keys = 3;
    CHECK(qd_suite_recall(&s, &tiny, err, sizeof err) == 0, "%s", err);
    qd_eval_set ev;
    CHECK(qd_suite_eval_set(&s, 9, 50, &ev, err, sizeof err) == 0, "%s", err);
    int ok3 = 1;
    for (size_t i = 0; i < ev.n; i++) {
        int np = 0;
        ok3 &= recall_ok(ev.items[i].prompt, ev.items[i].answer, &np) && np == 3;
    }
    CHECK(ok3, "3-key recall items wrong");
    qd_eval_set_free(&ev);
}

static void test_files(const char *dir) {
    char err[256], path[1024];
    qd_suite s;
    snprintf(path, sizeof path, "%s/my_suite.jsonl", dir);
    write_file(path,
               "{\"prompt\": \"Capital of France? \", \"answer\": \"Paris\"}\n"
               "\n"
               "{\"prompt\": \"2*3=\", \"answer\": \"6\\n\", \"id\": 7}\r\n"
               "   \n"
               "{\"answer\": \"x\", \"prompt\": \"tab\\there\"}");
    CHECK(qd_suite_load_file(&s, path, err, sizeof err) == 0, "jsonl: %s", err);
    CHECK(s.kind == QD_SUITE_FILE && strcmp(s.name, "my_suite") == 0, "name %s", s.name);
    CHECK(s.file.n == 3, "%zu items, expected 3", s.file.n);
    if (s.file.n == 3) {
        CHECK(strcmp(s.file.items[0].prompt, "Capital of France? ") == 0 &&
                  strcmp(s.file.items[0].answer, "Paris\n") == 0, "item 0");
        CHECK(strcmp(s.file.items[1].answer, "6\n") == 0, "item 1 answer doubled newline");
        CHECK(strcmp(s.file.items[2].prompt, "tab\there") == 0, "item 2 prompt");
    }
    qd_eval_set ev;
    CHECK(qd_suite_eval_set(&s, 1, 0, &ev, err, sizeof err) == 0 && ev.n == 3, "file eval set");
    CHECK(ev.n == 3 && strcmp(ev.items[1].prompt, "2*3=") == 0, "file eval order");
    qd_eval_set_free(&ev);
    CHECK(qd_suite_eval_set(&s, 1, 2, &ev, err, sizeof err) == 0 && ev.n == 2, "file eval set first 2");
    qd_eval_set_free(&ev);
    char *text;
    size_t len, *starts, n_starts;
    CHECK(qd_suite_train_text(&s, 1, 1000, &text, &len, &starts, &n_starts, err, sizeof err) == 0, "%s", err);
    int items_ok = 1;
    for (size_t k = 0; k < n_starts; k++) {
        size_t end = k + 1 < n_starts ? starts[k + 1] : len;
        int match = 0;
        for (size_t i = 0; i < s.file.n; i++) {
            size_t pl = strlen(s.file.items[i].prompt), al = strlen(s.file.items[i].answer);
            match |= end - starts[k] == pl + al && memcmp(text + starts[k], s.file.items[i].prompt, pl) == 0 &&
                     memcmp(text + starts[k] + pl, s.file.items[i].answer, al) == 0;
        }
        items_ok &= match;
    }
    CHECK(items_ok && len >= 1000, "file training text is not made of its items");
    free(text);
    free(starts);
    qd_suite_free(&s);

    /* malformed line 3 */
    snprintf(path, sizeof path, "%s/bad.jsonl", dir);
    write_file(path, "{\"prompt\": \"a\", \"answer\": \"b\"}\n\n{\"prompt\": \"a\", \"answer\": }\n");
    char want[1100];
    snprintf(want, sizeof want, "%s:3:", path);
    CHECK(qd_suite_load_file(&s, path, err, sizeof err) == -1 && strstr(err, want) && strstr(err, "prompt"),
          "malformed line: got \"%s\", expected it to contain \"%s\"", err, want);
    write_file(path, "{\"prompt\": \"a\", \"answer\": \"b\"}\n{\"prompt\": \"a\"}\n");
    snprintf(want, sizeof want, "%s:2:", path);
    CHECK(qd_suite_load_file(&s, path, err, sizeof err) == -1 && strstr(err, want) && strstr(err, "answer"),
          "missing answer: %s", err);
    write_file(path, "[1, 2]\n");
    CHECK(qd_suite_load_file(&s, path, err, sizeof err) == -1 && strstr(err, ":1:") && strstr(err, "object"), "array line: %s", err);
    write_file(path, "{\"prompt\": 5, \"answer\": \"b\"}\n");
    CHECK(qd_suite_load_file(&s, path, err, sizeof err) == -1 && strstr(err, "prompt"), "numeric prompt: %s", err);
    write_file(path, "{\"prompt\": \"a\", \"answer\": \"b\"} trailing\n");
    CHECK(qd_suite_load_file(&s, path, err, sizeof err) == -1 && strstr(err, ":1:"), "trailing garbage accepted: %s", err);
    write_file(path, "\n  \n");
    CHECK(qd_suite_load_file(&s, path, err, sizeof err) == -1 && strstr(err, "no items"), "blank file: %s", err);
    snprintf(path, sizeof path, "%s/none.jsonl", dir);
    CHECK(qd_suite_load_file(&s, path, err, sizeof err) == -1 && strstr(err, path), "missing file: %s", err);
    CHECK(qd_suite_open(&s, path, err, sizeof err) == -1 && strstr(err, path), "open missing file: %s", err);

    /* TAB text files */
    snprintf(path, sizeof path, "%s/qa.txt", dir);
    write_file(path, "1+1=\t2\nhello\tworld\n");
    CHECK(qd_suite_open(&s, path, err, sizeof err) == 0 && s.file.n == 2 && strcmp(s.name, "qa") == 0, "tsv: %s", err);
    if (s.file.n == 2)
        CHECK(strcmp(s.file.items[1].prompt, "hello") == 0 && strcmp(s.file.items[1].answer, "world\n") == 0,
              "tsv item");
    qd_suite_free(&s);
    write_file(path, "1+1=\t2\nno tab here\n");
    snprintf(want, sizeof want, "%s:2:", path);
    CHECK(qd_suite_load_file(&s, path, err, sizeof err) == -1 && strstr(err, want) && strstr(err, "TAB"), "tsv no tab: %s", err);

    /* built-in names */
    CHECK(qd_suite_open(&s, "arith", err, sizeof err) == 0 && s.kind == QD_SUITE_ARITH, "open arith");
    CHECK(qd_suite_open(&s, "recall", err, sizeof err) == 0 && s.kind == QD_SUITE_RECALL && s.recall.ctx_bytes == 200,
          "open recall");
}

static void test_mix(void) {
    char err[256];
    qd_suite ar, rc;
    qd_suite_arith(&ar, NULL, err, sizeof err);
    qd_suite_recall(&rc, NULL, err, sizeof err);
    qd_mix m;
    qd_mix_init(&m);
    CHECK(qd_mix_add_suite(&m, &ar, 1, 50000, 1.0, NULL, err, sizeof err) == 0, "add arith: %s", err);
    CHECK(qd_mix_add_suite(&m, &rc, 1, 50000, 1.0, NULL, err, sizeof err) == 0, "add recall: %s", err);
    CHECK(m.n_src == 2 && strcmp(m.src[0].name, "arith") == 0 && strcmp(m.src[1].name, "recall") == 0, "names");
    enum { B = 16, T = 256 };
    int32_t x[B * T], y[B * T];
    int src[B];
    qrng r;
    qrng_seed(&r, 3);
    int ok = 1, seen[2] = {0, 0};
    for (int it = 0; it < 20; it++) {
        CHECK(qd_mix_batch(&m, B, T, &r, x, y, src, err, sizeof err) == 0, "%s", err);
        for (int b = 0; b < B; b++) {
            char row[T + 1];
            for (int t = 0; t < T; t++) row[t] = (char)x[b * T + t];
            row[T] = '\0';
            seen[src[b]]++;
            if (src[b] == 1) {
                /* a whole recall item opens every row */
                char *q = strchr(row, '?'), *nl = strchr(row, '\n');
                int np;
                if (!q || !nl || nl < q) { ok = 0; continue; }
                char *eq = strchr(q, '=');
                char prompt[T + 1], ans[T + 1];
                snprintf(prompt, sizeof prompt, "%.*s", (int)(eq - row + 1), row);
                snprintf(ans, sizeof ans, "%.*s", (int)(nl - eq), eq + 1);
                ok &= recall_ok(prompt, ans, &np);
            } else {
                ok &= row[0] >= '0' && row[0] <= '9';
            }
        }
    }
    CHECK(ok, "a suite row does not begin with a whole, correct item");
    CHECK(seen[0] > 100 && seen[1] > 100, "rows per suite: %d %d", seen[0], seen[1]);
    qd_mix_free(&m);
}

int main(void) {
    char dir[512];
    tu_tmpdir(dir, sizeof dir);
    test_arith();
    test_recall();
    test_files(dir);
    test_mix();
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return tu_finish("test_suites");
}
