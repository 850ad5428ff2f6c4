/* qat_train: runs the stages a config names (FP32 base, RTN, QAT, report).
 * usage: qat_train CONFIG.json [--resume | --check]
 * --check validates the config (keys, types, ranges, cross-key rules, input
 * files present) and exits without doing any work.
 * exit codes: 0 ok, 1 error, 2 interrupted (checkpoint written; rerun with
 * --resume), 3 a suite regressed past eval.max_regression (report written).
 * A run uses at most as many threads as CPUs in its affinity mask (warning
 * once when the config asks for more) and, unless OMP_WAIT_POLICY or
 * GOMP_SPINCOUNT is set, re-executes itself with OMP_WAIT_POLICY=passive so
 * that idle OpenMP threads do not spin (base/cpu.h, bench/README.md). */
#include <cblas.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "base/cpu.h"
#include "run/config.h"
#include "run/pipeline.h"

#define USAGE "qat_train CONFIG.json [--resume | --check]"

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

int main(int argc, char **argv) {
    const char *path = NULL;
    int resume = 0, check = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--resume")) resume = 1;
        else if (!strcmp(argv[i], "--check")) check = 1;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: " USAGE "\n"
                   "  --resume  continue the run in out_dir from its last checkpoint\n"
                   "  --check   validate the config and exit\n"
                   "exit codes: 0 ok, 1 error, 2 interrupted (rerun with --resume), 3 a suite regressed\n"
                   "config keys: docs/config.md\n");
            return 0;
        } else if (argv[i][0] == '-' || path) {
            fprintf(stderr, "qat_train: unexpected argument \"%s\" (usage: " USAGE ")\n", argv[i]);
            return 1;
        } else path = argv[i];
    }
    if (!path) {
        fprintf(stderr, "qat_train: missing CONFIG.json (usage: " USAGE ")\n");
        return 1;
    }
    if (!check) qt_omp_wait_policy(argv); /* returns at once when the policy is already set */
    qt_config cfg;
    char err[1024];
    if (qt_config_load(path, &cfg, err, sizeof err)) {
        fprintf(stderr, "qatc: %s\n", err);
        return 1;
    }
    if (qt_config_check_outputs(&cfg, path, err, sizeof err)) { /* out_dir and export targets writable */
        fprintf(stderr, "qatc: %s\n", err);
        qt_config_free(&cfg);
        return 1;
    }
    if (check) {
        if (qt_pipeline_check(&cfg, stdout, err, sizeof err)) {
            fprintf(stderr, "qatc: %s: %s\n", path, err);
            qt_config_free(&cfg);
            return 1;
        }
        printf("%s: ok\n", path);
        qt_config_free(&cfg);
        return 0;
    }
    char warn[512];
    int threads = qt_threads_cap(cfg.threads, "key \"threads\"", warn, sizeof warn);
    if (warn[0]) fprintf(stderr, "qatc: warning: %s\n", warn);
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* a write past `ulimit -f` fails with EFBIG (reported, previous checkpoint
     * kept) instead of killing the process with SIGXFSZ */
    signal(SIGXFSZ, SIG_IGN);
    int rc = qt_pipeline_run(&cfg, path, resume, &stop_requested);
    qt_config_free(&cfg);
    return rc;
}
