#include "simd.h"

#include <stdatomic.h>

struct llm_simd_state {
    atomic_int level;   /* an llm_simd value, or -1 until first use */
};

static llm_simd_state own = {-1};
static llm_simd_state* state = &own;

llm_simd llm_simd_widest(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    /* attention's AVX-512 copy uses AVX-512VL's 32 ymm registers, the pre-tokenizer's BW's
     * byte compares; the first AVX-512 chips (Xeon Phi) lack both and run the AVX2 copies of
     * every kernel, and every chip since has both. */
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")
            && __builtin_cpu_supports("avx512bw"))
        return LLM_SIMD_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return LLM_SIMD_AVX2;
#endif
    return LLM_SIMD_SCALAR;
}

llm_simd llm_simd_level(void) {
    int level = atomic_load_explicit(&state->level, memory_order_relaxed);
    if (level < 0) {
        /* First use: if another thread got here first, or set a level meanwhile, keep its. */
        int unset = -1;
        level = (int)llm_simd_widest();
        if (!atomic_compare_exchange_strong(&state->level, &unset, level)) level = unset;
    }
    return (llm_simd)level;
}

llm_simd llm_simd_set_level(int level) {
    int widest = (int)llm_simd_widest();
    if (level < 0 || level > widest) level = widest;
    atomic_store(&state->level, level);
    return (llm_simd)level;
}

llm_simd_state* llm_simd_state_here(void) { return state; }

void llm_simd_share(llm_simd_state* shared) { state = shared; }
