/* CPU count and the OpenMP wait policy; see base/cpu.h. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "base/cpu.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int qt_cpu_count(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        return n > 0 ? (int)n : 1;
    }
    int n = CPU_COUNT(&set);
    return n > 0 ? n : 1;
}

int qt_threads_cap(int asked, const char *who, char *warn, size_t len) {
    int cpus = qt_cpu_count();
    if (len) warn[0] = 0;
    if (asked <= cpus) return asked;
    snprintf(warn, len, "%s: %d threads asked but this process may run on %d CPU%s (affinity mask); using %d "
             "(more threads than CPUs make every OpenMP step wait for descheduled threads)", who, asked, cpus,
             cpus == 1 ? "" : "s", cpus);
    return cpus;
}

void qt_omp_wait_policy(char **argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    if (setenv("OMP_WAIT_POLICY", QT_OMP_WAIT_POLICY, 1) != 0) return;
    execv("/proc/self/exe", argv);
    /* exec failed: carry on with libgomp's default (the variable stays set for children) */
}
