from libc.stdint cimport int32_t, int64_t, uint8_t

from llm._ext.lookup cimport (LLM_ERR_ARGUMENT, LLM_ERR_NOMEM, LLM_OK, Vocabulary, llm_status,
                              lookup_vocabulary)
from llm._ext.pretokenize cimport PRETOKENIZE_GPT2, PRETOKENIZE_NAIVE, pretokenize_mode


cdef extern from "bpe_encode.h":
    ctypedef enum bpe_method:
        BPE_MERGE_RANK
        BPE_GREEDY
    ctypedef struct bpe_encoder:
        pass
    ctypedef struct bpe_workspace:
        pass

    bpe_encoder* bpe_encoder_new(llm_status* status, pretokenize_mode mode,
                                 const lookup_vocabulary* alphabet, const int32_t* merges,
                                 int64_t n_merges, lookup_vocabulary tokens,
                                 int32_t unknown_id) nogil
    void bpe_encoder_free(bpe_encoder* encoder)
    bpe_workspace* bpe_workspace_new()
    void bpe_workspace_free(bpe_workspace* workspace)
    int64_t bpe_encode(int32_t* ids, int64_t* consumed, const bpe_encoder* encoder,
                       bpe_workspace* workspace, bpe_method method, const uint8_t* text, int64_t n,
                       int64_t capacity) nogil
    llm_status bpe_decoded_length(int64_t* length, int64_t* bad_index, lookup_vocabulary tokens,
                                  const int64_t* ids, int64_t n_ids) nogil
    void bpe_decode(uint8_t* out, lookup_vocabulary tokens, const int64_t* ids,
                    int64_t n_ids) nogil
