"""word2vec kernels (wraps csrc/word2vec.c): the alias table that draws noise words, the
Hogwild training loop, and one negative-sampling step (for gradient tests).

The model and the algorithm are described in csrc/word2vec.h; llm.embeddings.word2vec drives them.
"""
# The C declarations come from word2vec.pxd, which Cython includes automatically.
cimport numpy as cnp
import numpy as np

from llm._ext.checks cimport check_array, check_disjoint
from llm._ext.runtime cimport share_process_state

cnp.import_array()
share_process_state(__name__)

def alias_table(weights):
    """Walker's alias table for drawing word i with probability weights[i] / weights.sum().

    weights: (V,) float64, non-negative, not all zero.
    Returns (accept, alias): (V,) float32 and (V,) int32 — draw a bucket i uniformly, keep it
    with probability accept[i], else take alias[i].
    """
    check_array("weights", weights, np.float64, (None,))
    cdef int64_t V = weights.shape[0]
    if V == 0:
        raise ValueError("weights is empty: the vocabulary has no words")
    accept = np.empty(V, dtype=np.float32)
    alias = np.empty(V, dtype=np.int32)
    scaled = np.empty(V, dtype=np.float64)
    worklist = np.empty(V, dtype=np.int32)
    cdef float* accept_ptr = <float*>cnp.PyArray_DATA(accept)
    cdef int32_t* alias_ptr = <int32_t*>cnp.PyArray_DATA(alias)
    cdef double* scaled_ptr = <double*>cnp.PyArray_DATA(scaled)
    cdef int32_t* worklist_ptr = <int32_t*>cnp.PyArray_DATA(worklist)
    cdef const double* weights_ptr = <const double*>cnp.PyArray_DATA(weights)
    cdef llm_status status
    with nogil:
        status = word2vec_alias_table(accept_ptr, alias_ptr, scaled_ptr, worklist_ptr,
                                      weights_ptr, V)
    if status != LLM_OK:
        raise ValueError("weights must be finite and non-negative with a positive sum "
                         f"(got min {weights.min()}, sum {weights.sum()})")
    return accept, alias


def train(input_vectors, output_vectors, progress, corpus, sentence_starts, keep_probability,
          noise_accept, noise_alias, *, int window, int negative, bint skip_gram, int epochs,
          float alpha, float min_alpha, seed, int n_threads):
    """Train input_vectors and output_vectors in place (skip-gram or CBOW, negative sampling).

    input_vectors, output_vectors: (V, D) float32. progress: (2,) int64, zeroed then raised as
    training goes: [0] corpus words passed over (all epochs), [1] of those, words kept by
    subsampling — another thread may poll it. corpus: (N,) int32 word ids in [0, V);
    sentence_starts: (S + 1,) int64 offsets, 0 first, N last, non-decreasing.
    keep_probability: (V,) float32 subsampling probabilities; noise_accept, noise_alias: the
    alias table of the noise distribution (see alias_table). seed: int in [0, 2**64).
    n_threads: OpenMP threads. Runs at the SIMD level in force (llm._ext.runtime).
    """
    check_array("input_vectors", input_vectors, np.float32, (None, None), writeable=True)
    cdef int64_t V = input_vectors.shape[0], D = input_vectors.shape[1]
    check_array("output_vectors", output_vectors, np.float32, (V, D), writeable=True)
    check_array("progress", progress, np.int64, (2,), writeable=True)
    check_array("corpus", corpus, np.int32, (None,))
    check_array("sentence_starts", sentence_starts, np.int64, (None,))
    check_array("keep_probability", keep_probability, np.float32, (V,))
    check_array("noise_accept", noise_accept, np.float32, (V,))
    check_array("noise_alias", noise_alias, np.int32, (V,))
    check_disjoint((("input_vectors", input_vectors), ("output_vectors", output_vectors)), ())
    if V == 0 or D == 0:
        raise ValueError(f"input_vectors has shape {input_vectors.shape}; "
                         "expected at least one word and one dimension")
    if sentence_starts.shape[0] == 0:
        raise ValueError("sentence_starts is empty; expected (S + 1,) offsets starting at 0")
    for name, value in (("window", window), ("negative", negative), ("epochs", epochs),
                        ("n_threads", n_threads)):
        if value < 1:
            raise ValueError(f"{name}={value}: must be at least 1")
    if not (alpha > 0 and 0 <= min_alpha <= alpha):
        raise ValueError(f"alpha={alpha}, min_alpha={min_alpha}: need 0 <= min_alpha <= alpha "
                         "and alpha > 0")
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed={seed}: must be in [0, 2**64)")
    cdef word2vec_config config
    config.dim = D
    config.window = window
    config.negative = negative
    config.skip_gram = 1 if skip_gram else 0
    config.epochs = epochs
    config.alpha = alpha
    config.min_alpha = min_alpha
    config.seed = <uint64_t>seed
    config.n_threads = n_threads
    cdef int64_t N = corpus.shape[0], S = sentence_starts.shape[0] - 1
    cdef float* input_ptr = <float*>cnp.PyArray_DATA(input_vectors)
    cdef float* output_ptr = <float*>cnp.PyArray_DATA(output_vectors)
    cdef int64_t* progress_ptr = <int64_t*>cnp.PyArray_DATA(progress)
    cdef const int32_t* corpus_ptr = <const int32_t*>cnp.PyArray_DATA(corpus)
    cdef const int64_t* starts_ptr = <const int64_t*>cnp.PyArray_DATA(sentence_starts)
    cdef const float* keep_ptr = <const float*>cnp.PyArray_DATA(keep_probability)
    cdef const float* accept_ptr = <const float*>cnp.PyArray_DATA(noise_accept)
    cdef const int32_t* alias_ptr = <const int32_t*>cnp.PyArray_DATA(noise_alias)
    cdef llm_status status
    with nogil:
        status = word2vec_train(input_ptr, output_ptr, progress_ptr, corpus_ptr, starts_ptr,
                                keep_ptr, accept_ptr, alias_ptr, &config, V, N, S)
    if status == LLM_ERR_RANGE:
        raise ValueError(f"corpus or noise_alias holds an id outside [0, {V}) "
                         f"(the vocabulary size)")
    if status == LLM_ERR_NOMEM:
        raise MemoryError("word2vec_train: cannot allocate the per-thread buffers")
    if status != LLM_OK:
        raise ValueError(f"sentence_starts must rise from 0 to len(corpus)={N}, and "
                         "keep_probability and noise_accept must lie in [0, 1]")


def negative_sampling_step(hidden_step, output_vectors, hidden, targets, float alpha):
    """One negative-sampling step exactly as training takes it: targets[0] is the positive
    word, targets[1:] noise words; for each target t in order,
    g = alpha * (label - sigmoid(hidden @ out[t])), hidden_step += g * out[t],
    out[t] += g * hidden.

    hidden_step: (D,) float32, accumulated into; output_vectors: (V, D) float32, updated;
    hidden: (D,) float32; targets: (K,) int32 ids in [0, V), K >= 1.
    """
    check_array("output_vectors", output_vectors, np.float32, (None, None), writeable=True)
    cdef int64_t V = output_vectors.shape[0], D = output_vectors.shape[1]
    check_array("hidden_step", hidden_step, np.float32, (D,), writeable=True)
    check_array("hidden", hidden, np.float32, (D,))
    check_array("targets", targets, np.int32, (None,))
    check_disjoint((("hidden_step", hidden_step), ("output_vectors", output_vectors)),
                   (("hidden", hidden),))
    cdef int64_t K = targets.shape[0]
    if K == 0 or D == 0:
        raise ValueError(f"targets has {K} ids and vectors {D} dimensions; need at least one")
    cdef float* step_ptr = <float*>cnp.PyArray_DATA(hidden_step)
    cdef float* output_ptr = <float*>cnp.PyArray_DATA(output_vectors)
    cdef const float* hidden_ptr = <const float*>cnp.PyArray_DATA(hidden)
    cdef const int32_t* targets_ptr = <const int32_t*>cnp.PyArray_DATA(targets)
    cdef llm_status status
    with nogil:
        status = word2vec_negative_sampling_step(step_ptr, output_ptr, hidden_ptr, targets_ptr,
                                                 alpha, K, D, V)
    if status != LLM_OK:
        raise ValueError(f"targets holds an id outside [0, {V})")
