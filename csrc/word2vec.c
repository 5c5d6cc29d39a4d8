/* word2vec training: skip-gram and CBOW with negative sampling. See word2vec.h for the model,
 * the algorithm and how it differs from word2vec.c. */
#include "word2vec.h"

#include "vecmath.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- random numbers: splitmix64 ------------------------------------------------------------ */

static inline uint64_t rng_next(uint64_t* state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) from the high 32 bits (multiply-shift; bias below n / 2^32). */
static inline int64_t rng_below(uint64_t r, int64_t n) {
    return (int64_t)(((r >> 32) * (uint64_t)n) >> 32);
}

/* Uniform in [0, 1) from the low 24 bits (every value exact in float). */
static inline float rng_unit(uint64_t r) { return (float)(r & 0xFFFFFF) * 0x1p-24f; }

/* The stream of one (epoch, sentence): independent of which thread trains it. */
static inline uint64_t rng_for_sentence(uint64_t seed, int64_t epoch, int64_t n_sentences,
                                        int64_t sentence) {
    uint64_t stream = (uint64_t)(epoch * n_sentences + sentence + 1);
    uint64_t state = seed ^ (0xD1B54A32D192ED03ull * stream);
    rng_next(&state);
    return state;
}

/* ---- sigmoid table (word2vec.c's EXP_TABLE) ------------------------------------------------ */

#define SIGMOID_TABLE_SIZE 1000
#define SIGMOID_MAX 6.0f

typedef struct { float value[SIGMOID_TABLE_SIZE]; } sigmoid_table;

static void sigmoid_table_fill(sigmoid_table* table) {
    for (int i = 0; i < SIGMOID_TABLE_SIZE; i++) {
        double x = ((double)i / SIGMOID_TABLE_SIZE * 2.0 - 1.0) * SIGMOID_MAX;
        table->value[i] = (float)(1.0 / (1.0 + exp(-x)));
    }
}

/* label - σ(f): the step direction of one target; 0 once |f| >= 6 agrees with the label. */
static inline float sigmoid_error(const sigmoid_table* table, float f, float label) {
    if (f >= SIGMOID_MAX) return label - 1.0f;
    if (f <= -SIGMOID_MAX) return label;
    int index = (int)((f + SIGMOID_MAX) * (SIGMOID_TABLE_SIZE / SIGMOID_MAX / 2.0f));
    return label - table->value[index];
}

/* ---- one training step and one sentence ------------------------------------------------------ */

/* What every thread reads (and the vectors all of them write). */
typedef struct {
    float* input_vectors;             // (V, D)
    float* output_vectors;            // (V, D)
    const float* keep_probability;    // (V,)
    const float* noise_accept;        // (V,)
    const int32_t* noise_alias;       // (V,)
    const sigmoid_table* sigmoid;
    int64_t vocab_size, dim, window, negative, skip_gram;
} trainer;

/* A thread's own buffers. */
typedef struct {
    int32_t* kept;        // (longest sentence,) the words that survive subsampling
    int32_t* targets;     // (negative + 1,)
    float* hidden;        // (D,) CBOW's mean of the context vectors
    float* hidden_step;   // (D,) the step for the input vectors
} thread_buffers;

static inline __attribute__((always_inline))
void negative_sampling_step(llm_simd simd, float* hidden_step, float* output_vectors,
                            const float* hidden, const int32_t* targets, int64_t n_targets,
                            float alpha, int64_t dim, const sigmoid_table* sigmoid) {
    for (int64_t k = 0; k < n_targets; k++) {
        float* row = output_vectors + (int64_t)targets[k] * dim;
        float label = k == 0 ? 1.0f : 0.0f;
        float g = alpha * sigmoid_error(sigmoid, vec_dot_float(simd, hidden, row, dim), label);
        vec_pair_update(simd, hidden_step, row, g, hidden, dim);
    }
}

/* targets[0] = centre, then `negative` noise draws, skipping draws of the centre itself (as
 * word2vec.c). Returns the number of targets. */
static inline int64_t draw_targets(int32_t* targets, const trainer* t, int32_t centre,
                                   uint64_t* rng) {
    int64_t n = 0;
    targets[n++] = centre;
    for (int64_t k = 0; k < t->negative; k++) {
        uint64_t r = rng_next(rng);
        int64_t bucket = rng_below(r, t->vocab_size);
        int32_t noise = rng_unit(r) < t->noise_accept[bucket] ? (int32_t)bucket
                                                               : t->noise_alias[bucket];
        if (noise == centre) continue;
        targets[n++] = noise;
        /* The row is far in memory (a random word); start loading it now. */
        const float* row = t->output_vectors + (int64_t)noise * t->dim;
        for (int64_t i = 0; i < t->dim; i += 16) __builtin_prefetch(row + i, 1);
    }
    return n;
}

/* Train on one sentence; returns how many of its words survived subsampling. */
static inline __attribute__((always_inline))
int64_t train_sentence(llm_simd simd, const trainer* t, thread_buffers* buf,
                       const int32_t* words, int64_t length, float alpha, uint64_t rng) {
    const int64_t dim = t->dim;
    int64_t kept = 0;
    for (int64_t i = 0; i < length; i++)
        if (rng_unit(rng_next(&rng)) < t->keep_probability[words[i]]) buf->kept[kept++] = words[i];

    for (int64_t position = 0; position < kept; position++) {
        int64_t reach = 1 + rng_below(rng_next(&rng), t->window);
        int64_t first = position - reach < 0 ? 0 : position - reach;
        int64_t last = position + reach >= kept ? kept - 1 : position + reach;
        int32_t centre = buf->kept[position];
        if (t->skip_gram) {
            for (int64_t c = first; c <= last; c++) {
                if (c == position) continue;
                float* context = t->input_vectors + (int64_t)buf->kept[c] * dim;
                int64_t n_targets = draw_targets(buf->targets, t, centre, &rng);
                memset(buf->hidden_step, 0, (size_t)dim * sizeof(float));
                negative_sampling_step(simd, buf->hidden_step, t->output_vectors, context,
                                       buf->targets, n_targets, alpha, dim, t->sigmoid);
                vec_axpy(simd, context, 1.0f, buf->hidden_step, dim);
            }
        } else {
            if (last == first) continue;  /* a one-word sentence has no context */
            memset(buf->hidden, 0, (size_t)dim * sizeof(float));
            for (int64_t c = first; c <= last; c++)
                if (c != position)
                    vec_axpy(simd, buf->hidden, 1.0f,
                             t->input_vectors + (int64_t)buf->kept[c] * dim, dim);
            float inverse_count = 1.0f / (float)(last - first);
            for (int64_t i = 0; i < dim; i++) buf->hidden[i] *= inverse_count;
            int64_t n_targets = draw_targets(buf->targets, t, centre, &rng);
            memset(buf->hidden_step, 0, (size_t)dim * sizeof(float));
            negative_sampling_step(simd, buf->hidden_step, t->output_vectors, buf->hidden,
                                   buf->targets, n_targets, alpha, dim, t->sigmoid);
            for (int64_t c = first; c <= last; c++)
                if (c != position)
                    vec_axpy(simd, t->input_vectors + (int64_t)buf->kept[c] * dim, 1.0f,
                             buf->hidden_step, dim);
        }
    }
    return kept;
}

/* One compiled copy per SIMD level. */
__attribute__((target("avx512f")))
static int64_t train_sentence_avx512(const trainer* t, thread_buffers* buf, const int32_t* words,
                                     int64_t length, float alpha, uint64_t rng) {
    return train_sentence(LLM_SIMD_AVX512, t, buf, words, length, alpha, rng);
}

__attribute__((target("avx2,fma")))
static int64_t train_sentence_avx2(const trainer* t, thread_buffers* buf, const int32_t* words,
                                   int64_t length, float alpha, uint64_t rng) {
    return train_sentence(LLM_SIMD_AVX2, t, buf, words, length, alpha, rng);
}

static int64_t train_sentence_portable(const trainer* t, thread_buffers* buf,
                                       const int32_t* words, int64_t length, float alpha,
                                       uint64_t rng) {
    return train_sentence(LLM_SIMD_SCALAR, t, buf, words, length, alpha, rng);
}

/* ---- argument checks ------------------------------------------------------------------------- */

static llm_status check_config(const word2vec_config* c) {
    if (c->dim < 1 || c->window < 1 || c->negative < 1 || c->epochs < 1 || c->n_threads < 1)
        return LLM_ERR_ARGUMENT;
    if (c->skip_gram != 0 && c->skip_gram != 1) return LLM_ERR_ARGUMENT;
    if (!(c->alpha > 0.0f) || !(c->min_alpha >= 0.0f) || !(c->min_alpha <= c->alpha))
        return LLM_ERR_ARGUMENT;  /* written so that NaN fails */
    return LLM_OK;
}

static llm_status check_tables(const float* keep_probability, const float* noise_accept,
                               const int32_t* noise_alias, int64_t vocab_size) {
    for (int64_t w = 0; w < vocab_size; w++) {
        if (!(keep_probability[w] >= 0.0f && keep_probability[w] <= 1.0f)) return LLM_ERR_ARGUMENT;
        if (!(noise_accept[w] >= 0.0f && noise_accept[w] <= 1.0f)) return LLM_ERR_ARGUMENT;
        if (noise_alias[w] < 0 || noise_alias[w] >= vocab_size) return LLM_ERR_RANGE;
    }
    return LLM_OK;
}

/* Checks the corpus and finds its longest sentence (for the subsampling buffer). */
static llm_status check_corpus(int64_t* longest, const int32_t* corpus,
                               const int64_t* sentence_starts, int64_t vocab_size,
                               int64_t corpus_size, int64_t n_sentences) {
    if (n_sentences < 0 || corpus_size < 0) return LLM_ERR_ARGUMENT;
    if (sentence_starts[0] != 0 || sentence_starts[n_sentences] != corpus_size)
        return LLM_ERR_ARGUMENT;
    *longest = 0;
    for (int64_t s = 0; s < n_sentences; s++) {
        int64_t length = sentence_starts[s + 1] - sentence_starts[s];
        if (length < 0) return LLM_ERR_ARGUMENT;
        if (length > *longest) *longest = length;
    }
    for (int64_t i = 0; i < corpus_size; i++)
        if (corpus[i] < 0 || corpus[i] >= vocab_size) return LLM_ERR_RANGE;
    return LLM_OK;
}

/* ---- public functions ------------------------------------------------------------------------ */

llm_status word2vec_alias_table(float* accept, int32_t* alias, double* scaled, int32_t* worklist,
                                const double* weights, int64_t vocab_size) {
    if (vocab_size < 1 || vocab_size > INT32_MAX) return LLM_ERR_ARGUMENT;
    double total = 0.0;
    for (int64_t i = 0; i < vocab_size; i++) {
        if (!(weights[i] >= 0.0) || !isfinite(weights[i])) return LLM_ERR_ARGUMENT;
        total += weights[i];
    }
    if (!(total > 0.0) || !isfinite(total)) return LLM_ERR_ARGUMENT;
    /* worklist holds the under-full buckets growing from the front, the over-full ones from the
     * back; each step fills one under-full bucket from an over-full one. */
    int64_t n_small = 0, n_large = 0;
    for (int64_t i = 0; i < vocab_size; i++) {
        scaled[i] = weights[i] * (double)vocab_size / total;
        if (scaled[i] < 1.0) worklist[n_small++] = (int32_t)i;
        else worklist[vocab_size - 1 - n_large++] = (int32_t)i;
    }
    while (n_small > 0 && n_large > 0) {
        int32_t small = worklist[--n_small];
        int32_t large = worklist[vocab_size - n_large];
        accept[small] = (float)scaled[small];
        alias[small] = large;
        scaled[large] -= 1.0 - scaled[small];
        if (scaled[large] < 1.0) {  /* large became under-full: move it to the small stack */
            n_large--;
            worklist[n_small++] = large;
        }
    }
    /* What is left is full up to rounding error. */
    while (n_large > 0) {
        int32_t i = worklist[vocab_size - n_large--];
        accept[i] = 1.0f;
        alias[i] = i;
    }
    while (n_small > 0) {
        int32_t i = worklist[--n_small];
        accept[i] = 1.0f;
        alias[i] = i;
    }
    return LLM_OK;
}

llm_status word2vec_train(float* input_vectors, float* output_vectors, int64_t* progress,
                          const int32_t* corpus, const int64_t* sentence_starts,
                          const float* keep_probability, const float* noise_accept,
                          const int32_t* noise_alias, const word2vec_config* config,
                          int64_t vocab_size, int64_t corpus_size, int64_t n_sentences) {
    progress[WORD2VEC_WORDS_DONE] = 0;
    progress[WORD2VEC_WORDS_TRAINED] = 0;
    if (vocab_size < 1 || vocab_size > INT32_MAX) return LLM_ERR_ARGUMENT;
    llm_status status = check_config(config);
    if (status != LLM_OK) return status;
    status = check_tables(keep_probability, noise_accept, noise_alias, vocab_size);
    if (status != LLM_OK) return status;
    int64_t longest;
    status = check_corpus(&longest, corpus, sentence_starts, vocab_size, corpus_size, n_sentences);
    if (status != LLM_OK) return status;
    if (corpus_size == 0) return LLM_OK;

    const int64_t dim = config->dim, n_threads = config->n_threads;
    /* Per thread: kept ids and targets, then the two D-vectors (float and int32 are both 4 bytes
     * wide, so one block of 4-byte cells serves both). Each thread's part is a whole number of
     * 64-byte lines plus one, so no cache line holds two threads' buffers. */
    const int64_t cells_used = longest + config->negative + 1 + 2 * dim;
    const int64_t cells_per_thread = (cells_used + 15) / 16 * 16 + 16;
    void* block = malloc((size_t)(n_threads * cells_per_thread) * sizeof(float));
    if (block == NULL) return LLM_ERR_NOMEM;

    sigmoid_table sigmoid;
    sigmoid_table_fill(&sigmoid);
    const trainer t = {
        .input_vectors = input_vectors, .output_vectors = output_vectors,
        .keep_probability = keep_probability, .noise_accept = noise_accept,
        .noise_alias = noise_alias, .sigmoid = &sigmoid, .vocab_size = vocab_size, .dim = dim,
        .window = config->window, .negative = config->negative, .skip_gram = config->skip_gram,
    };
    /* Read once; the copies are called directly (not through a pointer) so that, where the
     * build's baseline has their instructions, they inline into the loop below. */
    const llm_simd simd = llm_simd_level();
    const double total_words = (double)corpus_size * (double)config->epochs;
    const int64_t report_every = 10000;  /* words between updates of progress[] */

    #pragma omp parallel num_threads(n_threads)
    {
#ifdef _OPENMP
        int64_t thread = omp_get_thread_num();
#else
        int64_t thread = 0;
#endif
        float* cells = (float*)block + thread * cells_per_thread;
        thread_buffers buf = {
            .kept = (int32_t*)cells, .targets = (int32_t*)cells + longest,
            .hidden = cells + longest + config->negative + 1,
            .hidden_step = cells + longest + config->negative + 1 + dim,
        };
        int64_t unreported_done = 0, unreported_trained = 0;
        for (int64_t epoch = 0; epoch < config->epochs; epoch++) {
            #pragma omp for schedule(dynamic, 16)
            for (int64_t s = 0; s < n_sentences; s++) {
                int64_t start = sentence_starts[s], length = sentence_starts[s + 1] - start;
                if (length == 0) continue;
                double done = (double)epoch * (double)corpus_size + (double)start;
                float alpha = config->alpha
                              - (config->alpha - config->min_alpha) * (float)(done / total_words);
                uint64_t rng = rng_for_sentence(config->seed, epoch, n_sentences, s);
                int64_t trained;
                if (simd == LLM_SIMD_AVX512)
                    trained = train_sentence_avx512(&t, &buf, corpus + start, length, alpha, rng);
                else if (simd == LLM_SIMD_AVX2)
                    trained = train_sentence_avx2(&t, &buf, corpus + start, length, alpha, rng);
                else
                    trained = train_sentence_portable(&t, &buf, corpus + start, length, alpha, rng);
                unreported_done += length;
                unreported_trained += trained;
                if (unreported_done >= report_every) {
                    #pragma omp atomic
                    progress[WORD2VEC_WORDS_DONE] += unreported_done;
                    #pragma omp atomic
                    progress[WORD2VEC_WORDS_TRAINED] += unreported_trained;
                    unreported_done = unreported_trained = 0;
                }
            }
        }
        #pragma omp atomic
        progress[WORD2VEC_WORDS_DONE] += unreported_done;
        #pragma omp atomic
        progress[WORD2VEC_WORDS_TRAINED] += unreported_trained;
    }
    free(block);
    return LLM_OK;
}

llm_status word2vec_negative_sampling_step(float* hidden_step, float* output_vectors,
                                           const float* hidden, const int32_t* targets,
                                           float alpha, int64_t n_targets, int64_t dim,
                                           int64_t vocab_size) {
    if (dim < 1 || n_targets < 1) return LLM_ERR_ARGUMENT;
    for (int64_t k = 0; k < n_targets; k++)
        if (targets[k] < 0 || targets[k] >= vocab_size) return LLM_ERR_RANGE;
    sigmoid_table sigmoid;
    sigmoid_table_fill(&sigmoid);
    /* The level is not a constant here, so the vector primitives are called rather than
     * inlined; the arithmetic is the same as in training. */
    negative_sampling_step(llm_simd_level(), hidden_step, output_vectors, hidden, targets,
                           n_targets, alpha, dim, &sigmoid);
    return LLM_OK;
}
