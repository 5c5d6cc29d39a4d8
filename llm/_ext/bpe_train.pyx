"""BPE training: piece counting and the incremental merge loop (wraps csrc/bpe_train.c).

WordCounter counts the pre-tokenized pieces of text fed to it in chunks; Trainer learns merges
from a WordCounter's words. The rules (tie-breaking, streaming margin) are in csrc/bpe_train.h.
Neither object may be used from two threads at once.
"""
# The C declarations come from bpe_train.pxd, which Cython includes automatically.
import numpy as np

from llm._ext.runtime cimport share_process_state

share_process_state(__name__)

PRETOKENIZER_MODES = {"gpt2": PRETOKENIZE_GPT2, "naive": PRETOKENIZE_NAIVE}
CHUNK_MARGIN = 8   # BPE_CHUNK_MARGIN in csrc/bpe_train.h


cdef raise_for(llm_status status, str what):
    if status == LLM_ERR_NOMEM:
        raise MemoryError(f"{what}: out of memory")
    if status != LLM_OK:
        raise ValueError(f"{what}: invalid argument (status {status})")


cdef class WordCounter:
    """Distinct pre-tokenizer pieces ("words") of a corpus and how often each occurs."""
    cdef bpe_word_counter* counter

    def __cinit__(self):
        self.counter = bpe_word_counter_new()
        if self.counter is NULL:
            raise MemoryError("WordCounter: out of memory")

    def __dealloc__(self):
        bpe_word_counter_free(self.counter)

    def add(self, data, str mode="gpt2", bint final=True) -> int:
        """Count the pieces of data (bytes-like); returns how many leading bytes were counted.

        mode: the pre-tokenizer, "gpt2" or "naive".
        final: False when the text continues in the next call; the pieces in the last
        CHUNK_MARGIN bytes are then left uncounted, and the caller passes data[consumed:]
        again in front of the next chunk. With final=True all of data is counted.
        """
        if mode not in PRETOKENIZER_MODES:
            raise ValueError(f"mode={mode!r}: must be one of {tuple(PRETOKENIZER_MODES)}")
        cdef pretokenize_mode c_mode = PRETOKENIZER_MODES[mode]
        cdef const uint8_t[::1] text = data
        cdef int64_t n = text.shape[0], consumed = 0
        cdef llm_status status = LLM_OK
        if n == 0:
            return 0
        with nogil:
            status = bpe_word_counter_add(&consumed, self.counter, c_mode, &text[0], n, final)
        raise_for(status, "WordCounter.add")
        return consumed

    def characters(self):
        """A new counter of the characters (UTF-8 sequences) of these words, each counted as
        often as its words occur."""
        cdef WordCounter characters = WordCounter()
        cdef llm_status status
        with nogil:
            status = bpe_word_counter_add_characters(characters.counter, self.counter)
        raise_for(status, "WordCounter.characters")
        return characters

    @property
    def size(self) -> int:
        """Distinct words."""
        return bpe_word_counter_size(self.counter)

    @property
    def total(self) -> int:
        """Words counted, repeats included."""
        return bpe_word_counter_total(self.counter)

    @property
    def text_bytes(self) -> int:
        """Bytes of text counted."""
        return bpe_word_counter_text_bytes(self.counter)

    def export(self):
        """(data, offsets, counts): word i is data[offsets[i]:offsets[i + 1]] (bytes), seen
        counts[i] times; words in first-seen order. offsets: (size + 1,) int64; counts: (size,)
        int64."""
        size = bpe_word_counter_size(self.counter)
        data = np.empty(bpe_word_counter_bytes(self.counter), dtype=np.uint8)
        offsets = np.empty(size + 1, dtype=np.int64)
        counts = np.empty(size, dtype=np.int64)
        cdef uint8_t[::1] data_view = data
        cdef int64_t[::1] offsets_view = offsets
        cdef int64_t[::1] counts_view = counts
        cdef uint8_t dummy_byte = 0
        cdef int64_t dummy_count = 0
        bpe_word_counter_export(&data_view[0] if data.size else &dummy_byte, &offsets_view[0],
                                &counts_view[0] if size else &dummy_count, self.counter)
        return data.tobytes(), offsets, counts


cdef class Trainer:
    """Learns merges from a WordCounter's words, incrementally (see csrc/bpe_train.h).

    alphabet: None for byte mode (symbols are the 256 bytes), or for naive mode the Vocabulary
    (llm._ext.lookup) of the base characters' UTF-8 bytes in id order; a character listed twice
    keeps its first id. Merge k creates token n_base + k.
    """
    cdef bpe_trainer* trainer
    cdef readonly int n_base

    def __cinit__(self, WordCounter counter, Vocabulary alphabet=None):
        cdef llm_status status = LLM_OK
        if alphabet is None:
            self.trainer = bpe_trainer_new(&status, counter.counter, NULL)
            self.n_base = 256
        else:
            if len(alphabet) == 0:
                raise ValueError("alphabet: needs at least one character")
            self.trainer = bpe_trainer_new(&status, counter.counter, &alphabet.view)
            self.n_base = len(alphabet)
        if self.trainer is NULL:
            raise_for(status, "Trainer")

    def __dealloc__(self):
        bpe_trainer_free(self.trainer)

    def merge(self, int64_t max_merges, int64_t min_frequency=2):
        """Make up to max_merges more merges; stops early when no pair occurs min_frequency
        times. Returns (merges, counts): merges (k, 2) int32 (left, right) id pairs, merge j of
        this call creating the next token id; counts (k,) int64, each pair's count when merged."""
        if max_merges < 0:
            raise ValueError(f"max_merges={max_merges}: must be >= 0")
        merges = np.empty((max(max_merges, 1), 2), dtype=np.int32)
        counts = np.empty(max(max_merges, 1), dtype=np.int64)
        cdef int32_t[:, ::1] merges_view = merges
        cdef int64_t[::1] counts_view = counts
        cdef int64_t done
        with nogil:
            done = bpe_trainer_merge(&merges_view[0, 0], &counts_view[0], self.trainer,
                                     max_merges, min_frequency)
        if done < 0:
            raise_for(<llm_status>done, "Trainer.merge")
        return merges[:done].copy(), counts[:done].copy()

    @property
    def words(self) -> int:
        """Words that hold at least one pair."""
        return bpe_trainer_words(self.trainer)

    @property
    def pairs(self) -> int:
        """Distinct pairs seen so far."""
        return bpe_trainer_pairs(self.trainer)
