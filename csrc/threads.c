#include "threads.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

struct llm_threads_state {
    atomic_int automatic;       /* 1 until a count is fixed */
    atomic_int threads;         /* the count the last window allows; 0 before the first */
    atomic_flag measuring;      /* held by the one thread reading /proc/stat */
    atomic_llong next_ns;       /* monotonic time of the next measurement */
    int windows_for_more;       /* consecutive windows that allowed more threads than `threads` */
    _Atomic double free_cores;  /* over the last window; -1 before the first */
    long long sample_ns, sample_idle_ticks, sample_own_ns;  /* the window's start */
};

static llm_threads_state own = {1, 0, ATOMIC_FLAG_INIT, 0, 0, -1.0, -1, 0, 0};
static llm_threads_state* state = &own;

static long long clock_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Idle + iowait ticks of all CPUs together (/proc/stat's first line), or -1. */
static long long machine_idle_ticks(void) {
    FILE* f = fopen("/proc/stat", "r");
    if (!f) return -1;
    unsigned long long user, nice, system, idle, iowait;
    int fields = fscanf(f, "cpu %llu %llu %llu %llu %llu", &user, &nice, &system, &idle, &iowait);
    fclose(f);
    return fields == 5 ? (long long)(idle + iowait) : -1;
}

int llm_threads_for_cores(double cores, int max_threads) {
    int n = (int)floor(cores + 0.25);
    if (n > max_threads) n = max_threads;
    return n < 1 ? 1 : n;
}

/* The most threads auto mode uses: one per core this process may run on. */
static int ceiling(void) {
#ifdef _OPENMP
    return omp_get_num_procs();
#else
    return 1;
#endif
}

static void set_threads(int n) {
#ifdef _OPENMP
    if (n != omp_get_max_threads()) omp_set_num_threads(n);
#else
    (void)n;
#endif
}

/* Ends the window: cores free over it (machine idle + own CPU time, per wall second), and the
 * next window's start. Called by one thread at a time. Fewer threads take effect at once, more
 * only after two windows in a row allow them: a team too big for the free cores costs far more
 * (its barriers wait for a thread without a core: 2-4x slower steps, measured) than a team too
 * small for a window does (at most its share of the cores). */
static void measure(long long now_ns) {
    long long idle = machine_idle_ticks(), own_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    if (idle < 0) {  /* no /proc/stat: keep every thread, never look again */
        atomic_store(&state->next_ns, (long long)9e18);
        atomic_store(&state->threads, ceiling());
        return;
    }
    if (state->sample_idle_ticks >= 0 && now_ns > state->sample_ns) {
        double seconds = (double)(now_ns - state->sample_ns) * 1e-9;
        double idle_cores = (double)(idle - state->sample_idle_ticks) / (double)sysconf(_SC_CLK_TCK)
                            / seconds;
        double own_cores = (double)(own_ns - state->sample_own_ns) * 1e-9 / seconds;
        atomic_store(&state->free_cores, idle_cores + own_cores);
        int allowed = llm_threads_for_cores(idle_cores + own_cores, ceiling());
        int threads = atomic_load(&state->threads);
        state->windows_for_more = allowed > threads ? state->windows_for_more + 1 : 0;
        if (allowed < threads || threads == 0 || state->windows_for_more >= 2)
            atomic_store(&state->threads, allowed);
    }
    state->sample_ns = now_ns;
    state->sample_idle_ticks = idle;
    state->sample_own_ns = own_ns;
    atomic_store(&state->next_ns, now_ns + LLM_THREADS_WINDOW_MS * 1000000LL);
}

void llm_threads_adapt(void) {
    if (!atomic_load_explicit(&state->automatic, memory_order_relaxed)) return;
    long long now = clock_ns(CLOCK_MONOTONIC_COARSE);
    if (now >= atomic_load_explicit(&state->next_ns, memory_order_relaxed) &&
        !atomic_flag_test_and_set(&state->measuring)) {
        if (now >= atomic_load(&state->next_ns)) measure(now);
        atomic_flag_clear(&state->measuring);
    }
    int threads = atomic_load_explicit(&state->threads, memory_order_relaxed);
    if (threads > 0 && atomic_load_explicit(&state->automatic, memory_order_relaxed))
        set_threads(threads);
}

int llm_threads_automatic(void) { return atomic_load(&state->automatic); }

void llm_threads_fix(int n) {
    atomic_store(&state->automatic, 0);
    if (n > 0) set_threads(n);
}

void llm_threads_automate(void) {
    set_threads(ceiling());
    atomic_store(&state->threads, 0);
    atomic_store(&state->next_ns, 0);
    atomic_store(&state->automatic, 1);
}

double llm_threads_free_cores(void) { return atomic_load(&state->free_cores); }

llm_threads_state* llm_threads_state_here(void) { return state; }
void llm_threads_share(llm_threads_state* shared) { state = shared; }
