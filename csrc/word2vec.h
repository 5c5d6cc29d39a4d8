/* word2vec: skip-gram and CBOW with negative sampling (Mikolov et al., 2013), trained the way
 * their word2vec.c does it, over a corpus of word ids held in memory.
 *
 * The model: every vocabulary word w has an input vector in[w] (the word vector one keeps) and an
 * output vector out[w] (the "context" vector used only for training). For a centre word and a
 * hidden vector h (skip-gram: the input vector of one context word; CBOW: the mean of the input
 * vectors of the window), negative sampling minimises
 *
 *     loss = -log σ(h · out[centre]) - Σ_k log σ(-h · out[noise_k])
 *
 * over `negative` noise words drawn from the unigram distribution raised to the 0.75 power.
 *
 * What training does, as word2vec.c:
 *   - each sentence is first subsampled: word w survives with probability keep_probability[w]
 *     (frequent words are dropped often); the window runs over the surviving words;
 *   - for each centre word the window is shrunk to a uniform reach in [1, window];
 *   - one SGD step per (centre, context) pair (skip-gram) or per centre word (CBOW), with the
 *     learning rate decaying linearly from alpha to min_alpha over all epochs' words;
 *   - out[] rows are updated at once, in[] rows once the step's targets are done; CBOW adds the
 *     same step (the gradient with respect to h) to every context word's input vector;
 *   - sigmoid from a 1000-entry table over [-6, 6]; beyond it the target counts as already
 *     learnt at 0 or 1 (word2vec.c's EXP_TABLE, which gensim uses too).
 * Differences: noise words are drawn exactly from the unigram^0.75 distribution with Walker's
 * alias method (two vocabulary-sized arrays that stay in cache) where word2vec.c quantises it into
 * a 10^8-entry table; the random generator is splitmix64, seeded per (epoch, sentence).
 *
 * Threads (OpenMP, Hogwild): sentences are shared out dynamically and every thread updates the
 * shared vectors without locks, as word2vec.c and gensim do. Concurrent updates of one row can
 * lose a step; with sparse updates this does not hurt accuracy (Recht et al., 2011). Because each
 * sentence's random numbers and learning rate depend only on (seed, epoch, sentence), a run with
 * one thread is bit-for-bit reproducible.
 */
#ifndef LLM_WORD2VEC_H
#define LLM_WORD2VEC_H

#include "common.h"

typedef struct {
    int64_t dim;         /* vector size D, >= 1 */
    int64_t window;      /* largest distance between centre and context word, >= 1 */
    int64_t negative;    /* noise words per step, >= 1 */
    int64_t skip_gram;   /* 1: skip-gram; 0: CBOW (mean of the context vectors) */
    int64_t epochs;      /* passes over the corpus, >= 1 */
    float alpha;         /* learning rate at the first word, > 0 */
    float min_alpha;     /* learning rate reached after the last word, in [0, alpha] */
    uint64_t seed;       /* the random stream of every (epoch, sentence) derives from it */
    int64_t n_threads;   /* OpenMP threads, >= 1 */
} word2vec_config;

/* Indexes of progress[] in word2vec_train. */
enum {
    WORD2VEC_WORDS_DONE = 0,     /* corpus words passed over so far, all epochs */
    WORD2VEC_WORDS_TRAINED = 1,  /* of those, words kept by subsampling (centre words trained) */
};

/* Walker's alias table for drawing i with probability weights[i] / Σ weights (Vose's method):
 * draw a bucket i uniformly, keep it with probability accept[i], else take alias[i].
 * Returns LLM_ERR_ARGUMENT if a weight is negative or not finite, or all are zero. */
llm_status word2vec_alias_table(float* accept,          // (V,) in [0, 1]
                                int32_t* alias,         // (V,) in [0, V)
                                double* scaled,         // (V,) scratch
                                int32_t* worklist,      // (V,) scratch
                                const double* weights,  // (V,)
                                int64_t vocab_size);

/* Train input_vectors and output_vectors in place on a corpus of sentences of word ids:
 * sentence s is corpus[sentence_starts[s] : sentence_starts[s + 1]]. progress[] (see the enum)
 * is zeroed, then increased atomically as threads finish blocks of about 10,000 words, so another
 * thread may poll it. Runs at the process's SIMD level (simd.h).
 * Returns LLM_ERR_ARGUMENT for a bad config, non-monotone sentence_starts or a probability outside
 * [0, 1]; LLM_ERR_RANGE for a word id or alias outside [0, V); LLM_ERR_NOMEM if the per-thread
 * buffers cannot be allocated. Nothing is trained when an error is returned. */
llm_status word2vec_train(float* input_vectors,            // (V, D)
                          float* output_vectors,           // (V, D)
                          int64_t* progress,               // (2,)
                          const int32_t* corpus,           // (N,) word ids
                          const int64_t* sentence_starts,  // (S + 1,) from 0 up to N
                          const float* keep_probability,   // (V,) subsampling, in [0, 1]
                          const float* noise_accept,       // (V,) alias table of the noise
                          const int32_t* noise_alias,      // (V,)   distribution
                          const word2vec_config* config,
                          int64_t vocab_size, int64_t corpus_size, int64_t n_sentences);

/* One negative-sampling step exactly as training takes it, for tests: targets[0] is the positive
 * word (label 1), targets[1:] noise words (label 0). For each target t in order,
 *     g = alpha * (label - σ(hidden · out[t]));  hidden_step += g * out[t];  out[t] += g * hidden
 * so with distinct targets, hidden_step / alpha and the changes of out[t] / alpha are minus the
 * gradients of the loss above (σ from the table, exact to about 3e-3).
 * Returns LLM_ERR_ARGUMENT for dim < 1 or n_targets < 1, LLM_ERR_RANGE for a target outside
 * [0, V). */
llm_status word2vec_negative_sampling_step(float* hidden_step,      // (D,) accumulated into
                                           float* output_vectors,   // (V, D)
                                           const float* hidden,     // (D,)
                                           const int32_t* targets,  // (n_targets,)
                                           float alpha, int64_t n_targets, int64_t dim,
                                           int64_t vocab_size);

#endif
