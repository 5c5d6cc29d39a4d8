from libc.stdint cimport int32_t, int64_t, uint8_t

from llm._ext.lookup cimport (LLM_ERR_ARGUMENT, LLM_ERR_NOMEM, LLM_OK, Vocabulary, llm_status,
                              lookup_vocabulary)
from llm._ext.pretokenize cimport PRETOKENIZE_GPT2, PRETOKENIZE_NAIVE, pretokenize_mode


cdef extern from "bpe_train.h":
    ctypedef struct bpe_word_counter:
        pass
    ctypedef struct bpe_trainer:
        pass

    bpe_word_counter* bpe_word_counter_new()
    void bpe_word_counter_free(bpe_word_counter* counter)
    llm_status bpe_word_counter_add(int64_t* consumed, bpe_word_counter* counter,
                                    pretokenize_mode mode, const uint8_t* text, int64_t n,
                                    int final) nogil
    llm_status bpe_word_counter_add_characters(bpe_word_counter* characters,
                                               const bpe_word_counter* words) nogil
    int64_t bpe_word_counter_size(const bpe_word_counter* counter)
    int64_t bpe_word_counter_bytes(const bpe_word_counter* counter)
    int64_t bpe_word_counter_total(const bpe_word_counter* counter)
    int64_t bpe_word_counter_text_bytes(const bpe_word_counter* counter)
    void bpe_word_counter_export(uint8_t* bytes, int64_t* offsets, int64_t* counts,
                                 const bpe_word_counter* counter)

    bpe_trainer* bpe_trainer_new(llm_status* status, const bpe_word_counter* counter,
                                 const lookup_vocabulary* alphabet) nogil
    void bpe_trainer_free(bpe_trainer* trainer)
    int64_t bpe_trainer_merge(int32_t* merges, int64_t* counts, bpe_trainer* trainer,
                              int64_t max_merges, int64_t min_frequency) nogil
    int64_t bpe_trainer_words(const bpe_trainer* trainer)
    int64_t bpe_trainer_pairs(const bpe_trainer* trainer)
