/* How many OpenMP threads a parallel region gets: all the process may use while the machine has
 * the cores to spare, fewer while other processes keep them busy.
 *
 * Why: a region's threads meet at a barrier, so a team is as fast as its slowest member. With
 * another busy process on the cores, one of our threads is often waiting for a core while the
 * other spins at the barrier: on 2 cores beside one busy process, 2 threads ran a training step
 * slower than 1 thread and generated tokens at a fraction of 1 thread's speed. So, in "auto"
 * mode (the default), the cores the process can use are measured every LLM_THREADS_WINDOW_MS
 * from /proc/stat: idle time of the whole machine plus this process's own CPU time, over wall
 * time. The calling thread's OpenMP thread count is set to that (at least 1, at most one per core
 * the process may run on), so every later region follows. A thread count the user fixes
 * (LLM_NUM_THREADS, llm.set_num_threads) ends auto mode. Without /proc/stat, nothing changes.
 *
 * The state is shared across extension modules as the SIMD level is (see simd.h).
 */
#ifndef LLM_THREADS_H
#define LLM_THREADS_H

#define LLM_THREADS_WINDOW_MS 100

typedef struct llm_threads_state llm_threads_state;

/* Brings the calling thread's OpenMP thread count in line with the cores now free (auto mode;
 * re-measured at most once a window, so a call costs a clock read). Called by the kernels that
 * every model step runs (matrix products, attention) before they size a team. */
void llm_threads_adapt(void);

/* Threads for `cores` free cores (idle + this process's, as measured; may be fractional): the
 * nearest count, rounding up only from 0.75 so that a competitor's intermittent use does not
 * keep a second thread waiting, clamped to [1, max_threads]. */
int llm_threads_for_cores(double cores, int max_threads);

/* 1 while adapting to the machine's load, 0 once a count was fixed. */
int llm_threads_automatic(void);
/* Fixes the thread count at n for the calling thread (ends auto mode for the process; n = 0
 * keeps the count OpenMP has). */
void llm_threads_fix(int n);
/* Auto mode again, starting from one thread per core. */
void llm_threads_automate(void);
/* The cores measured free in the last window (-1 before the first measurement). */
double llm_threads_free_cores(void);

llm_threads_state* llm_threads_state_here(void);
void llm_threads_share(llm_threads_state* state);

#endif
