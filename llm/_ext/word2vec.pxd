from libc.stdint cimport int32_t, int64_t, uint64_t


cdef extern from "word2vec.h":
    ctypedef enum llm_status:
        LLM_OK
        LLM_ERR_ARGUMENT
        LLM_ERR_RANGE
        LLM_ERR_NOMEM

    ctypedef struct word2vec_config:
        int64_t dim
        int64_t window
        int64_t negative
        int64_t skip_gram
        int64_t epochs
        float alpha
        float min_alpha
        uint64_t seed
        int64_t n_threads

    llm_status word2vec_alias_table(float* accept, int32_t* alias, double* scaled,
                                    int32_t* worklist, const double* weights,
                                    int64_t vocab_size) nogil
    llm_status word2vec_train(float* input_vectors, float* output_vectors, int64_t* progress,
                              const int32_t* corpus, const int64_t* sentence_starts,
                              const float* keep_probability, const float* noise_accept,
                              const int32_t* noise_alias, const word2vec_config* config,
                              int64_t vocab_size, int64_t corpus_size,
                              int64_t n_sentences) nogil
    llm_status word2vec_negative_sampling_step(float* hidden_step, float* output_vectors,
                                               const float* hidden, const int32_t* targets,
                                               float alpha, int64_t n_targets, int64_t dim,
                                               int64_t vocab_size) nogil
