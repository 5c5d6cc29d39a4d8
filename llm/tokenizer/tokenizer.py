"""The BPE tokenizer: normalize -> pre-tokenize -> BPE, in two modes.

byte   GPT-2's byte-level BPE: GPT-2's pre-tokenizer split (csrc/pretokenize.c, real Unicode
       classes, no regex engine), the 256 bytes as base tokens, no normalization. Any str
       round-trips exactly. A tokenizer we train numbers its tokens bytes 0..255, then merges in
       merge order, then special tokens, so `mergeable_ranks()` values are our ids and tiktoken
       built from them gives our ids. Tokenizers from elsewhere (`from_pretrained`,
       `from_tiktoken`: GPT-2's own, whose id 0 is "!") keep their ids in any order: the spec's
       token_order maps each token index (that numbering) to its id, and every id the
       Tokenizer takes or gives is the id, never the index.
naive  the project's original method: text normalized (ASCII folding and lowercasing by
       default), words (runs of letters, numbers, marks) are BPE'd over an alphabet of
       characters; every other character — space, newline, tab, punctuation — is a token of its
       own that never merges (shown as <space>, <newline>, <tab>). Characters outside the
       alphabet encode to <unknown>.

Special tokens take the indexes after the merges. In text passed to `encode` they are recognised
only when listed in `allowed_special` (or "all"); otherwise they are encoded as the plain text
they are made of, like tiktoken with `disallowed_special=()` — never an error, never a special id
smuggled in by user text.

Threads: encode/decode may run from many threads at once (the C encoder is shared read-only;
each thread has its own piece cache). `encode_batch` uses a thread pool of LLM_NUM_THREADS.
`register_special_tokens` must not run while other threads encode.
"""
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np

from llm._ext import runtime
from llm._ext.bpe_encode import Encoder, Workspace, id_list
from llm._ext.lookup import Vocabulary
from llm.tokenizer import bpe, export, pretrained, schema
from llm.tokenizer.lookup import LOOKUPS
from llm.tokenizer.normalize import Normalizer
from llm.tokenizer.pretokenize import encode_utf8
from llm.tokenizer.schema import END_OF_TEXT_TOKENS, UNKNOWN

MODES = ("byte", "naive")
METHODS = ("bpe", "greedy")
DEFAULT_SPECIAL_TOKENS = {"byte": (END_OF_TEXT_TOKENS[0],),
                          "naive": (END_OF_TEXT_TOKENS[1], UNKNOWN, "<pad>")}
# How naive mode shows its whitespace tokens (decode writes the characters themselves).
NAIVE_TOKEN_NAMES = {" ": "<space>", "\n": "<newline>", "\t": "<tab>"}


class Tokenizer:
    """A trained BPE tokenizer (the two modes are described in the module docstring).

    Make one:  Tokenizer.train(data, vocab_size, mode=...), Tokenizer.load(path),
               Tokenizer.from_pretrained(path) (any tokenizer directory: ours, Hugging Face's,
               GPT-2's), Tokenizer.from_tiktoken(path), Tokenizer(spec)
    Use it:    encode, encode_ordinary, encode_to_numpy, encode_batch, encode_bytes (byte mode),
               decode, decode_bytes, save, save_pretrained (byte mode), register_special_tokens
    Inspect:   vocab_size, vocab, merges, special_tokens, mergeable_ranks() (byte mode), mode,
               normalizer, alphabet, n_base, spec
    """

    def __init__(self, spec: schema.TokenizerSpec):
        schema.check_spec(spec)
        self._spec = spec
        self._build()

    def _build(self) -> None:
        """Derive the vocabulary from base + merges + special tokens, and the C encoder (which
        works in token indexes; _ids and _decode_tokens translate to ids when they differ)."""
        spec = self._spec
        if spec.alphabet is None:
            vocab = [bytes([i]) for i in range(256)]
        else:
            vocab = [c.encode("utf-8") for c in spec.alphabet]
        for left, right in spec.merges.tolist():
            vocab.append(vocab[left] + vocab[right])
        vocab += [encode_utf8(token) for token in spec.special_tokens]
        first_special = spec.n_base + len(spec.merges)
        special_indexes = {token: first_special + i for i, token in enumerate(spec.special_tokens)}
        alphabet = None if spec.alphabet is None else Vocabulary.of(vocab[:spec.n_base])
        tokens = Vocabulary.of(vocab)
        self._encoder = Encoder(schema.PRE_TOKENIZERS[spec.mode], spec.merges, tokens,
                                alphabet, special_indexes.get(UNKNOWN, -1))
        self._ids = spec.token_order   # (vocab_size,) int32 index -> id, None for the identity
        if self._ids is None:
            self._vocab = tuple(vocab)
            self._special_ids = special_indexes
            self._decode_tokens = tokens
        else:
            by_id = [b""] * len(vocab)
            for index, token_id in enumerate(self._ids.tolist()):
                by_id[token_id] = vocab[index]
            self._vocab = tuple(by_id)
            self._special_ids = {token: int(self._ids[index])
                                 for token, index in special_indexes.items()}
            self._decode_tokens = Vocabulary.of(by_id)
        self._special_pattern_cache = {}
        self._local = threading.local()   # per-thread Workspace (piece cache) for each method
        self._lookups = {}   # method -> what _token_lookup builds, for token_to_id
        self._id_objects = None   # tuple(range(vocab_size)), made by the first _id_list

    # ---- training, saving, loading -------------------------------------------------------

    @classmethod
    def train(cls, data: bpe.Corpus, vocab_size: int, mode: str = "byte", min_frequency: int = 2,
              normalize: Normalizer | bool | None = None,
              special_tokens: Iterable[str] | None = None) -> "Tokenizer":
        """Learn a tokenizer of vocab_size tokens (base symbols + merges + special tokens).

        data: a str (text), a path (file, or directory of .txt files), or an iterable of them;
            a str is always text — wrap paths in pathlib.Path. Files are streamed.
        mode: "byte" (GPT-2 byte-level) or "naive" (see the module docstring).
        min_frequency: a pair occurring fewer times is never merged (training then stops early,
            with a warning, and the vocabulary is smaller than vocab_size). In naive mode it also
            bounds the alphabet: a character seen fewer times stays out of it and encodes to
            <unknown>.
        normalize: naive mode only. None or True: Normalizer(ascii_fold=True, lowercase=True);
            False: none; or a Normalizer. Byte mode never normalizes.
        special_tokens: None for the mode's defaults (byte: <|endoftext|>; naive: <endoftext>,
            <unknown>, <pad>). Naive mode always has <unknown> (added first if missing).

        Merge order (deterministic): the pair with the highest count; among equal counts the
        smallest (left id, right id). See csrc/bpe_train.h.
        """
        if mode not in MODES:
            raise ValueError(f"mode={mode!r}: must be one of {MODES}")
        if isinstance(min_frequency, bool) or not isinstance(min_frequency, int) or min_frequency < 1:
            raise ValueError(f"min_frequency={min_frequency!r}: must be an integer >= 1")
        normalizer = resolve_normalizer(mode, normalize)
        specials = resolve_special_tokens(mode, special_tokens)
        if mode == "byte":
            check_vocab_size(vocab_size, 256, "byte tokens", len(specials))
        counter = bpe.count_corpus(data, mode, normalizer)
        alphabet = bpe.naive_alphabet(counter, min_frequency) if mode == "naive" else None
        n_base = 256 if alphabet is None else len(alphabet)
        if mode == "naive":
            check_vocab_size(vocab_size, n_base, "characters of the trained alphabet", len(specials))
        trained = bpe.learn_merges(counter, vocab_size - n_base - len(specials), min_frequency,
                                   alphabet)
        return cls(schema.TokenizerSpec(mode, normalizer, alphabet, trained.merges, specials))

    def save(self, path: str | os.PathLike) -> None:
        """Write tokenizer.json (our versioned schema, see llm.tokenizer.schema) atomically."""
        schema.write(path, self._spec)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Tokenizer":
        """Read a tokenizer.json written by save (any version up to the current one)."""
        return cls(schema.read(path))

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike) -> "Tokenizer":
        """Read a byte-level BPE tokenizer written elsewhere, keeping its ids.

        path: a directory holding a tokenizer.json (Hugging Face's, or ours) or GPT-2's
            vocab.json + merges.txt (tokenizer.json is preferred); or one of those files.
        Encodes to the same ids as Hugging Face tokenizers / transformers on any text (added
        tokens: pass allowed_special="all", which HF always does). A tokenizer of another kind
        (WordPiece, Unigram, a SentencePiece pre-tokenizer, add_prefix_space, byte_fallback, a
        normalizer, ...) is a ValueError naming the option. See llm.tokenizer.pretrained.
        """
        return cls(pretrained.read(path))

    @classmethod
    def from_tiktoken(cls, path: str | os.PathLike,
                      special_tokens: dict[str, int] | None = None) -> "Tokenizer":
        """Read a .tiktoken ranks file (base64 token, space, rank: one token a line), with
        GPT-2's pre-tokenization pattern; ids are the ranks, so encode gives tiktoken's ids for
        an Encoding built with pat_str=GPT2_PATTERN (an encoding with another pattern, such as
        cl100k_base, would cut text differently).

        special_tokens: token -> id, e.g. {"<|endoftext|>": 50256}; None for none. Ranks and
            special ids together must number the tokens 0..vocab_size-1.
        """
        return cls(pretrained.read_tiktoken(path, special_tokens))

    def save_pretrained(self, directory: str | os.PathLike, *,
                        model_max_length: int | None = None) -> None:
        """Byte mode: write into directory (made if missing) the files Hugging Face
        `transformers.AutoTokenizer.from_pretrained(directory)` loads with no extra arguments,
        with our ids: tokenizer.json, vocab.json, merges.txt, tokenizer_config.json,
        special_tokens_map.json. model_max_length: the context length in tokens to record,
        if any. from_pretrained reads the directory back."""
        export.save_pretrained(self, directory, model_max_length)

    def register_special_tokens(self, tokens: Iterable[str]) -> None:
        """Add special tokens; they take the next ids, in order. A token already registered is
        a ValueError. (Unlike minbpe, ids are not chosen: they follow the vocabulary.)"""
        tokens = [tokens] if isinstance(tokens, str) else list(tokens)
        for token in tokens:
            if not isinstance(token, str) or not token:
                raise ValueError(f"special token {token!r}: must be a non-empty string")
            encode_utf8(token)
        repeated = sorted(set(tokens) & set(self._spec.special_tokens)) or \
            sorted({t for t in tokens if tokens.count(t) > 1})
        if repeated:
            raise ValueError(f"special token(s) {repeated} already registered")
        order = self._spec.token_order
        if order is not None:   # the new tokens' ids follow every id there is
            order = np.concatenate([order, np.arange(len(order), len(order) + len(tokens),
                                                     dtype=np.int32)])
        self._spec = schema.TokenizerSpec(self._spec.mode, self._spec.normalizer,
                                          self._spec.alphabet, self._spec.merges,
                                          self._spec.special_tokens + tuple(tokens), order)
        self._build()

    # ---- what the tokenizer is ---------------------------------------------------------------

    @property
    def spec(self) -> schema.TokenizerSpec:
        """Everything the tokenizer is made of (what save writes); Tokenizer(spec) rebuilds it."""
        return self._spec

    @property
    def mode(self) -> str:
        return self._spec.mode

    @property
    def normalizer(self) -> Normalizer | None:
        return self._spec.normalizer

    @property
    def alphabet(self) -> tuple[str, ...] | None:
        """Naive mode's base characters in id order; None in byte mode."""
        return self._spec.alphabet

    @property
    def vocab_size(self) -> int:
        return len(self._vocab)

    @property
    def n_base(self) -> int:
        """Base symbols: 256 bytes, or the naive alphabet's characters."""
        return self._spec.n_base

    @property
    def merges(self) -> np.ndarray:
        """(n_merges, 2) int32 (left, right) id pairs in merge (rank) order; merge k makes the
        token vocab[left] + vocab[right], which has id n_base + k when the ids are in our own
        order (every tokenizer we train)."""
        if self._ids is None:
            return self._spec.merges.copy()
        return self._ids[self._spec.merges]

    @property
    def special_tokens(self) -> dict[str, int]:
        return dict(self._special_ids)

    @property
    def end_of_text_id(self) -> int | None:
        """The id of the end-of-text token that separates documents (byte mode's <|endoftext|>,
        naive mode's <endoftext>: tiktoken's eot_token), None for a tokenizer without one."""
        return next((self._special_ids[token] for token in END_OF_TEXT_TOKENS
                     if token in self._special_ids), None)

    @property
    def vocab(self) -> tuple[bytes, ...]:
        """Every token's bytes, indexed by id (special tokens as their UTF-8 text)."""
        return self._vocab

    def mergeable_ranks(self) -> dict[bytes, int]:
        """Byte mode: token bytes -> rank (= our id) for every non-special token, the form
        tiktoken.Encoding(mergeable_ranks=...) takes. tiktoken merges by rank, so the ids of
        merge results must rise in merge order (true of GPT-2's); otherwise a ValueError."""
        if self.mode != "byte":
            raise ValueError("mergeable_ranks() exists for byte mode only; naive tokens are "
                             "built over a character alphabet, not bytes")
        n_mergeable = self.n_base + len(self._spec.merges)
        indexes = range(n_mergeable)
        if self._ids is None:
            ids = indexes
        else:
            ids = self._ids[:n_mergeable].tolist()
            falls = np.flatnonzero(np.diff(self._ids[self.n_base:n_mergeable]) < 0)
            if falls.size:
                k = int(falls[0]) + 1
                raise ValueError(f"merge {k} makes id {ids[self.n_base + k]}, below the id "
                                 f"{ids[self.n_base + k - 1]} of merge {k - 1}: tiktoken takes "
                                 "ids as merge ranks, so it cannot express this tokenizer")
        vocab = self._vocab
        ranks = {vocab[token_id]: token_id for token_id in ids}
        if len(ranks) < n_mergeable:   # training never makes a token twice; a hand-made file may
            first = {}
            repeated = next(i for i in ids if first.setdefault(vocab[i], i) != i)
            raise ValueError(f"token {repeated} repeats the bytes {vocab[repeated]!r} of token "
                             f"{first[vocab[repeated]]}; tiktoken ranks need distinct tokens")
        return ranks

    def __repr__(self) -> str:
        return (f"Tokenizer(mode={self.mode!r}, vocab_size={self.vocab_size}, "
                f"merges={len(self._spec.merges)}, special_tokens={list(self._special_ids)})")

    # ---- token <-> id (the lookups of llm.tokenizer.lookup) ------------------------------------

    def token_to_id(self, token: bytes | str, method: str = "hash") -> int:
        """The id of token (bytes; a str is taken as its UTF-8), or -1 when it is no token.

        method: "hash", "binary" or "brute", the index of llm.tokenizer.lookup to search (built
        on first use). A token the vocabulary holds twice (two merges can make the same bytes)
        gives its first id, as in the encoder.
        """
        if isinstance(token, str):
            token = encode_utf8(token)
        lookup, ids = self._token_lookup(method)
        position = lookup.get(token)
        return int(ids[position]) if position >= 0 else -1

    def id_to_token(self, token_id: int) -> bytes:
        """The bytes of token token_id (a special token as its UTF-8)."""
        if isinstance(token_id, bool) or not isinstance(token_id, (int, np.integer)):
            raise ValueError(f"token id {token_id!r}: must be an integer")
        if not 0 <= token_id < len(self._vocab):
            raise ValueError(f"token id {token_id} is out of range [0, {len(self._vocab)})")
        return self._vocab[token_id]

    def _token_lookup(self, method: str):
        """(TokenLookup over the distinct tokens in first-occurrence order, (n,) int32 their ids)."""
        if method not in LOOKUPS:
            raise ValueError(f"method={method!r}: must be one of {tuple(LOOKUPS)}")
        built = self._lookups.get(method)
        if built is None:
            first_ids = {}
            for token_id, token in enumerate(self._vocab):
                first_ids.setdefault(token, token_id)
            built = (LOOKUPS[method](first_ids),
                     np.fromiter(first_ids.values(), dtype=np.int32, count=len(first_ids)))
            self._lookups[method] = built
        return built

    # ---- encoding ------------------------------------------------------------------------------

    def _workspace(self, method: str) -> Workspace:
        workspace = getattr(self._local, method, None)
        if workspace is None:
            workspace = Workspace()
            setattr(self._local, method, workspace)
        return workspace

    def _id_list(self, ids: np.ndarray) -> list[int]:
        """(n,) int32 ids as a list of ints; every list shares one int object per id."""
        if self._id_objects is None:
            self._id_objects = tuple(range(len(self._vocab)))
        return id_list(ids, self._id_objects)

    def _ordinary_array(self, text: str, method: str, trim: bool = True) -> np.ndarray:
        """trim=False: the ids may be a view into a larger buffer (see Encoder.encode)."""
        if not isinstance(text, str):
            raise ValueError(f"text: expected str, got {type(text).__name__}")
        if method not in METHODS:
            raise ValueError(f"method={method!r}: must be one of {METHODS}")
        if self.normalizer is not None:
            if not text.isascii():
                encode_utf8(text)   # refuse lone surrogates before normalization drops them
            text = self.normalizer(text)
        try:   # the encoder reads the str's own UTF-8: no copy for ASCII, one kept by the str else
            ids = self._encoder.encode(text, self._workspace(method), method, trim)
        except UnicodeEncodeError:
            encode_utf8(text)   # a lone surrogate: the ValueError that names it
            raise
        return ids if self._ids is None else self._ids[ids]

    def _special_pattern(self, allowed_special) -> re.Pattern | None:
        if allowed_special == "all":
            allowed = tuple(self._special_ids)
        else:
            if isinstance(allowed_special, str):
                raise ValueError(f"allowed_special={allowed_special!r}: pass \"all\" or a set of "
                                 "special tokens, e.g. {'<|endoftext|>'}")
            allowed = tuple(sorted(set(allowed_special)))
            unknown = [token for token in allowed if token not in self._special_ids]
            if unknown:
                raise ValueError(f"allowed_special: {unknown} are not special tokens of this "
                                 f"tokenizer (it has {list(self._special_ids)})")
        if not allowed:
            return None
        if allowed not in self._special_pattern_cache:
            longest_first = sorted(allowed, key=len, reverse=True)
            self._special_pattern_cache[allowed] = re.compile(
                "(" + "|".join(map(re.escape, longest_first)) + ")")
        return self._special_pattern_cache[allowed]

    def encode_to_numpy(self, text: str, allowed_special: Iterable[str] | str = (),
                        method: str = "bpe") -> np.ndarray:
        """Like encode, as a (count,) int32 array."""
        return self._encode_array(text, allowed_special, method)

    def _encode_array(self, text: str, allowed_special, method: str,
                      trim: bool = True) -> np.ndarray:
        pattern = self._special_pattern(allowed_special)
        if pattern is None:
            return self._ordinary_array(text, method, trim)
        if isinstance(text, str) and not text.isascii():
            encode_utf8(text)   # a lone surrogate's index in the whole text, not in a part
        parts = pattern.split(text)
        arrays = [np.array([self._special_ids[part]], dtype=np.int32) if i % 2
                  else self._ordinary_array(part, method, trim=False)   # concatenate copies
                  for i, part in enumerate(parts)]
        return np.concatenate(arrays)

    def encode(self, text: str, allowed_special: Iterable[str] | str = (),
               method: str = "bpe") -> list[int]:
        """Token ids of text.

        allowed_special: the special tokens to recognise in text ("all" for every one); any
            other special token's text is encoded as ordinary text.
        method: "bpe" (standard merge-rank BPE, GPT-2's) or "greedy" (longest match first, the
            project's original encoder).
        A lone surrogate in text (U+D800..U+DFFF) is a ValueError naming its index.
        """
        # the ids array only lives until the list is made: no need to copy it out of its buffer
        return self._id_list(self._encode_array(text, allowed_special, method, trim=False))

    def encode_ordinary(self, text: str, method: str = "bpe") -> list[int]:
        """Token ids of text with no special-token handling at all."""
        return self._id_list(self._ordinary_array(text, method, trim=False))

    def encode_bytes(self, data: bytes, method: str = "bpe") -> list[int]:
        """Byte mode: token ids of raw bytes, valid UTF-8 or not (decode_bytes inverts it)."""
        if self.mode != "byte":
            raise ValueError("encode_bytes exists for byte mode only; naive mode encodes text")
        if method not in METHODS:
            raise ValueError(f"method={method!r}: must be one of {METHODS}")
        ids = self._encoder.encode(data, self._workspace(method), method)
        return self._id_list(ids if self._ids is None else self._ids[ids])

    def encode_batch(self, texts: Sequence[str], allowed_special: Iterable[str] | str = (),
                     method: str = "bpe", num_threads: int | None = None) -> list[list[int]]:
        """encode for each text, on num_threads threads (see encode_batch_to_numpy)."""
        return [self._id_list(ids) for ids in
                self.encode_batch_to_numpy(texts, allowed_special, method, num_threads)]

    def encode_batch_to_numpy(self, texts: Sequence[str],
                              allowed_special: Iterable[str] | str = (), method: str = "bpe",
                              num_threads: int | None = None) -> list[np.ndarray]:
        """encode_to_numpy for each text, on num_threads threads (default: LLM_NUM_THREADS,
        else all cores); the C encoder runs without the GIL."""
        texts = list(texts)
        threads = min(self._encode_threads(num_threads), max(1, len(texts)))
        with self.batch_encoder(threads, allowed_special, method) as encode:
            return encode(texts)

    @contextmanager
    def batch_encoder(self, num_threads: int | None = None,
                      allowed_special: Iterable[str] | str = (), method: str = "bpe"
                      ) -> Iterator[Callable[[Sequence[str]], list[np.ndarray]]]:
        """A function that encodes a batch of texts (encode_to_numpy each) on num_threads
        threads (default: LLM_NUM_THREADS, else all cores), for the with block's duration: the
        threads live as long as it does, so each keeps its encoder workspace from one batch to
        the next (a fresh thread per batch would allocate and fault one in every time)."""
        threads = self._encode_threads(num_threads)

        def encode(text: str) -> np.ndarray:
            return self.encode_to_numpy(text, allowed_special, method)

        if threads == 1:
            yield lambda texts: [encode(text) for text in texts]
            return
        with ThreadPoolExecutor(threads) as pool:
            yield lambda texts: list(pool.map(encode, texts))

    @staticmethod
    def _encode_threads(num_threads: int | None) -> int:
        threads = num_threads or runtime.max_threads()
        if threads < 1:
            raise ValueError(f"num_threads={num_threads}: must be at least 1")
        return threads

    # ---- decoding ------------------------------------------------------------------------------

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The bytes of ids, back to back (special tokens as their text). An id outside
        [0, vocab_size) is a ValueError naming it and its position."""
        ids = ids if isinstance(ids, (list, tuple, np.ndarray)) else list(ids)
        return self._encoder.decode(ids, self._decode_tokens)

    def decode(self, ids: Iterable[int], errors: str = "replace") -> str:
        """The text of ids. Byte mode: token sequences that cut a UTF-8 character decode with
        errors ("replace": U+FFFD; "strict" raises). Naive mode gives the normalized text."""
        return self.decode_bytes(ids).decode("utf-8", errors=errors)


def resolve_normalizer(mode: str, normalize) -> Normalizer | None:
    if mode == "byte":
        if normalize not in (None, False) and not (isinstance(normalize, Normalizer)
                                                   and normalize.is_identity):
            raise ValueError("normalize: byte mode never normalizes (it round-trips any text "
                             "exactly); use mode=\"naive\" for ASCII folding or lowercasing")
        return None
    if normalize is None or normalize is True:
        return Normalizer(ascii_fold=True, lowercase=True)
    if normalize is False:
        return None
    if isinstance(normalize, Normalizer):
        return None if normalize.is_identity else normalize
    raise ValueError(f"normalize={normalize!r}: expected None, a bool or a Normalizer")


def resolve_special_tokens(mode: str, special_tokens) -> tuple[str, ...]:
    if special_tokens is None:
        return DEFAULT_SPECIAL_TOKENS[mode]
    if isinstance(special_tokens, str):
        raise ValueError(f"special_tokens={special_tokens!r}: pass a list of tokens, e.g. "
                         f"[{special_tokens!r}]")
    tokens = list(dict.fromkeys(special_tokens))
    for token in tokens:
        if not isinstance(token, str) or not token:
            raise ValueError(f"special token {token!r}: must be a non-empty string")
        encode_utf8(token)
    if mode == "naive" and UNKNOWN not in tokens:
        tokens.insert(0, UNKNOWN)
    return tuple(tokens)


def check_vocab_size(vocab_size, n_base: int, what: str, n_special: int) -> None:
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int):
        raise ValueError(f"vocab_size={vocab_size!r}: must be an integer")
    least = n_base + n_special
    if vocab_size < least:
        raise ValueError(f"vocab_size={vocab_size} is smaller than the {n_base} {what} plus "
                         f"{n_special} special token(s); use at least {least}")
