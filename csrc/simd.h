/* The SIMD level every dispatching kernel runs (matmul, attention, vecmath, word2vec, the GPT-2
 * pre-tokenizer): chosen once per process, at first use, as the widest this CPU runs; set from
 * Python (for tests) or by LLM_SIMD in the environment (see llm/_ext/runtime.pyx).
 *
 * The compile flags only set the baseline, so a portable build still reaches AVX-512 where the
 * CPU has it. Kernels read the level once per call and pick their per-ISA copy with it.
 *
 * Why a state pointer: Python loads each extension module with RTLD_LOCAL, so each one that
 * compiles this file has its own copy of its globals. llm._ext.runtime's copy is the process's
 * level; every other such module points its copy at it on import (llm_simd_share), so one
 * setting reaches them all, whatever order they are imported in.
 */
#ifndef LLM_SIMD_H
#define LLM_SIMD_H

typedef enum {
    LLM_SIMD_SCALAR = 0,    /* portable C, what the compile flags allow */
    LLM_SIMD_AVX2 = 1,      /* AVX2 + FMA */
    LLM_SIMD_AVX512 = 2,    /* AVX-512 F, VL and BW */
} llm_simd;

typedef struct llm_simd_state llm_simd_state;

/* The widest level this CPU runs. */
llm_simd llm_simd_widest(void);

/* The level in force: llm_simd_widest() until set. Safe to call from any thread. */
llm_simd llm_simd_level(void);

/* Sets the level in force to `level` (an llm_simd value), or to the widest this CPU runs if it
 * has no such level or level < 0; returns the level now in force. Not to be called while kernels
 * run on other threads (a kernel reads the level once, at its start). */
llm_simd llm_simd_set_level(int level);

/* This copy's state, and the state this copy reads and writes from now on (called once, at a
 * module's import, before any of its kernels run). */
llm_simd_state* llm_simd_state_here(void);
void llm_simd_share(llm_simd_state* state);

#endif
