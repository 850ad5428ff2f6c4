/* qatc base/cpu: how many CPUs a run may use, and the OpenMP wait policy
 * that keeps a run fast when another program shares those CPUs. */
#ifndef QATC_BASE_CPU_H
#define QATC_BASE_CPU_H

#include <stddef.h>

/* The wait policy qat_train gives libgomp (OMP_WAIT_POLICY) when the user set
 * neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT: idle threads sleep at once
 * instead of spinning (measured in bench/README.md). */
#define QT_OMP_WAIT_POLICY "passive"

/* CPUs in this process's affinity mask (sched_getaffinity), at least 1. */
int qt_cpu_count(void);

/* The thread count to use for `asked` threads: at most qt_cpu_count().
 * When capped, a one-line warning naming who, both counts and the cap goes
 * into warn; otherwise warn is "". */
int qt_threads_cap(int asked, const char *who, char *warn, size_t len);

/* When neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT is set, sets
 * OMP_WAIT_POLICY=QT_OMP_WAIT_POLICY and re-executes this program
 * (/proc/self/exe) with argv: libgomp reads both variables only once, when
 * it is loaded, before main runs, so setting them later has no effect.
 * Returns only when nothing had to be done or the exec failed (the run then
 * goes on with libgomp's default policy). */
void qt_omp_wait_policy(char **argv);

#endif
