"""Text generation with a KV cache: sampling, stop tokens, batched prompts, streaming, and a
sliding window past block_size.

    model.generate(prompt_ids, max_new_tokens, ...)              new token ids
    model.generate_stream(prompt_ids, max_new_tokens, ...)       the same, one token at a time
    sample(model, tokenizer, "Once", 200), stream_text(...)      text in, text out

The prompt is read in one GPT.forward_cached call (the prefill), then each new token costs one
position: its keys and values join the cache and its query attends over it.

Sliding window: the model never saw positions past block_size, so when a new token would not fit
in the cache, the oldest tokens are dropped, keeping the newest block_size // 2 (at least 1), and
those are read again as a fresh prefill (their position ids restart at 0, as in training). The
cache cannot simply drop its oldest columns: every cached key depends on its position id. Keeping
half bounds the cost (one prefill of block_size / 2 tokens every block_size / 2 tokens) while the
model always sees at least half a window of context. A prompt longer than block_size is cut to
its last block_size tokens.

Batched prompts of different lengths are left-padded to the longest; padded keys are masked and
each row's positions count from its first real token, so (greedy) each row generates what it
would alone — until the first slide, which happens for all rows at once, when the longest row
fills the window (a shorter row then loses context it would have kept alone).

Sampling: temperature 0 is greedy (the likeliest token). Otherwise the distribution is
softmax(logits / temperature), cut to the top_k likeliest tokens, then to the smallest set of
likeliest tokens whose probability reaches top_p (nucleus sampling), drawn with a NumPy Generator
seeded by seed (the same seed gives the same tokens).
"""
import codecs
import math
import numbers
import os
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from llm.model import GPT
from llm.model.gpt import TOKENIZER_FILE
from llm.model.kv_cache import KVCache
from llm.tokenizer import Tokenizer

END_OF_TEXT = ("<|endoftext|>", "<endoftext>")


def load(directory: str | os.PathLike) -> tuple[GPT, Tokenizer]:
    """The model and tokenizer of a model directory (a run's model/ or checkpoint/)."""
    if not Path(directory).is_dir():
        raise FileNotFoundError(f"{directory}: no such model directory")
    tokenizer_path = Path(directory) / TOKENIZER_FILE
    if not tokenizer_path.is_file():
        raise FileNotFoundError(f"{tokenizer_path} not found: the model directory has no "
                                "tokenizer (a run's model/ and checkpoint/ have one)")
    return GPT.load(directory), Tokenizer.load(tokenizer_path)


class Sampler:
    """Draws the next token of each row from its logits, as the module docstring says.

    temperature >= 0 (0: greedy); top_k: None or >= 1; top_p: None or in (0, 1]; seed: anything
    np.random.default_rng takes.
    """

    def __init__(self, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, seed=None):
        if not (isinstance(temperature, numbers.Real) and 0 <= temperature < float("inf")):
            raise ValueError(f"temperature={temperature!r}: must be a finite number >= 0 "
                             "(0 picks the likeliest token)")
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral)
                                  or top_k < 1):
            raise ValueError(f"top_k={top_k!r}: must be an integer >= 1 (or None for no limit)")
        if top_p is not None and not (isinstance(top_p, numbers.Real) and 0 < top_p <= 1):
            raise ValueError(f"top_p={top_p!r}: must be in (0, 1] (or None for no limit)")
        self.temperature = float(temperature)
        self.top_k = None if top_k is None else int(top_k)
        self.top_p = None if top_p is None or top_p == 1 else float(top_p)
        self.rng = np.random.default_rng(seed)

    def __call__(self, logits: np.ndarray) -> np.ndarray:
        """(B,) int64 token ids drawn from logits (B, V), row by row: beyond one O(V) pass,
        a row's work is on its candidates only (the top_k; for top_p, the likeliest few)."""
        if self.temperature == 0:
            return logits.argmax(axis=1)
        return np.array([self._draw(row) for row in logits], np.int64)

    def _draw(self, logits: np.ndarray) -> int:
        """One token id from one row of logits (V,)."""
        candidates = None       # None: every token
        if self.top_k is not None and self.top_k < len(logits):
            kth_largest = np.partition(logits, len(logits) - self.top_k)[-self.top_k]
            candidates = np.flatnonzero(logits >= kth_largest)      # ties with the k-th stay
            logits = logits[candidates]
        # A generated token's few calls on V numbers: each picked for its dispatch cost, the
        # values being those of the plain spelling (max(), np.cumsum, np.searchsorted: ~5 us
        # more at V = 65)
        scores = logits.astype(np.float64)
        scores -= scores[scores.argmax()]
        scores *= 1 / self.temperature
        weights = np.exp(scores, out=scores)
        if self.top_p is None:
            order, cumulative = None, np.add.accumulate(weights)
        else:
            order, cumulative = self._nucleus(weights)
        # the first token whose cumulative weight exceeds a uniform draw in [0, mass): it has a
        # nonzero weight (the draw is kept below the mass should rounding reach it)
        mass = float(cumulative[-1])
        draw = min(self.rng.random() * mass, math.nextafter(mass, 0))
        position = int(cumulative.searchsorted(draw, "right"))
        token = position if order is None else int(order[position])
        return token if candidates is None else int(candidates[token])

    def _nucleus(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(order, cumulative): the indices of the smallest set of likeliest weights that holds
        top_p of their total, in decreasing weight (ties in index order), and their running
        sums. A token is dropped when the likelier ones already hold top_p of the mass.

        Only the m likeliest are sorted (found by a partition), m = 64, 512, ... until the cut
        falls within them, strictly above the m-th largest weight (then no tie at the edge can
        change the kept tokens): a peaked distribution costs O(V), not a sort of the vocabulary
        at every step. Up to 512 weights are sorted at once (cheaper than the partition)."""
        threshold = self.top_p * np.add.reduce(weights)
        n = len(weights)
        m = n if n <= 512 else 64
        while True:
            top = np.arange(n) if m == n else np.sort(np.argpartition(-weights, m - 1)[:m])
            order = top[np.argsort(-weights[top], kind="stable")]
            ordered = weights[order]
            cumulative = np.add.accumulate(ordered)
            kept = int(np.count_nonzero(cumulative - ordered < threshold))   # a prefix
            if m == n or (kept < m and ordered[kept - 1] > ordered[-1]):
                return order[:kept], cumulative[:kept]
            m = min(n, 8 * m)


# The KV cache of each model's last finished generation, for its next one: a new cache's pages are
# faulted in as the cache fills (~10 us a token for the small model's 2 MB), a reused one's are
# resident. A running generation owns its cache (it is back here only once the generation ends),
# so interleaved streams on one model never share one. Holds one cache per live model.
_idle_caches: "weakref.WeakKeyDictionary[GPT, KVCache]" = weakref.WeakKeyDictionary()


class _Context:
    """The tokens each row's next token is conditioned on, and their KV cache.

    tokens, real: (B, P + max_new_tokens) int32 ids and uint8 flags (0 = left padding); columns
    start..end-1 are the window the cache holds (P = the longest prompt). release() hands the
    cache on to the model's next generation.
    """

    def __init__(self, model: GPT, prompts: list[np.ndarray], max_new_tokens: int):
        longest = max(len(prompt) for prompt in prompts)
        shape = (len(prompts), longest + max_new_tokens)
        self.model = model
        self.tokens = np.zeros(shape, np.int32)
        self.real = np.ones(shape, np.uint8)
        for row, prompt in enumerate(prompts):
            self.tokens[row, longest - len(prompt):longest] = prompt
            self.real[row, :longest - len(prompt)] = 0
        self.block_size = model.config.block_size
        self.keep_on_slide = max(1, self.block_size // 2)
        self.end = longest
        self.start = max(0, longest - self.block_size)
        capacity = min(self.block_size, shape[1])   # the longest window this context reaches
        cache = _idle_caches.pop(model, None)
        if cache is None or cache.batch_size != len(prompts) or cache.capacity < capacity:
            cache = KVCache(model.config, len(prompts), capacity)
        self.cache = cache

    def release(self) -> None:
        """End of the generation: its cache becomes the model's idle one."""
        _idle_caches[self.model] = self.cache

    def prefill(self) -> np.ndarray:
        """Logits (B, V) after reading the window start..end into an emptied cache."""
        self.cache.reset()
        window = slice(self.start, self.end)
        real = self.real[:, window]
        return self.model.forward_cached(self.tokens[:, window], self.cache,
                                         None if real.all() else real)

    def append(self, next_ids: np.ndarray) -> np.ndarray:
        """Logits (B, V) after appending next_ids (B,), sliding the window when it is full."""
        self.tokens[:, self.end] = next_ids
        self.end += 1
        if self.end - self.start > self.block_size:
            self.start = self.end - self.keep_on_slide
            return self.prefill()
        return self.model.forward_cached(self.tokens[:, self.end - 1:self.end], self.cache)


def generate_stream(model: GPT, prompt_ids, max_new_tokens: int, temperature: float = 1.0,
                    top_k: int | None = None, top_p: float | None = None,
                    stop_tokens: Iterable[int] = (), seed=None) -> Iterator:
    """New tokens, yielded as they are produced.

    prompt_ids: one prompt (a sequence of token ids, or a 1-D array), or a batch (a sequence of
    such sequences, lengths may differ, or a 2-D array). One prompt yields ints; a batch yields
    a tuple per step with each row's token, None for a row that has stopped. A row stops after
    yielding a token of stop_tokens, or after max_new_tokens tokens; the stream ends when every
    row has stopped. Arguments are checked at once (not at the first next()).
    """
    prompts, batched = _prompts(prompt_ids, model.config.vocab_size)
    return _stream(model, prompts, batched, max_new_tokens, temperature, top_k, top_p,
                   stop_tokens, seed)


def generate(model: GPT, prompt_ids, max_new_tokens: int, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None,
             stop_tokens: Iterable[int] = (), seed=None) -> list:
    """The new tokens of generate_stream: a list of ints for one prompt, a list of such lists
    (one per row) for a batch. A stop token that ended a row is its last token."""
    prompts, batched = _prompts(prompt_ids, model.config.vocab_size)
    steps = _stream(model, prompts, batched, max_new_tokens, temperature, top_k, top_p,
                    stop_tokens, seed)
    if not batched:
        return list(steps)
    rows = [[] for _ in prompts]
    for step in steps:
        for row, token in zip(rows, step):
            if token is not None:
                row.append(token)
    return rows


def _stream(model, prompts, batched, max_new_tokens, temperature, top_k, top_p, stop_tokens,
            seed):
    """The generator of generate_stream for checked prompts, after checking the rest."""
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, numbers.Integral) \
            or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens={max_new_tokens!r}: must be an integer >= 0")
    sampler = Sampler(temperature, top_k, top_p, seed)
    stops = _token_ids("stop_tokens", stop_tokens, model.config.vocab_size)
    return _steps(model, prompts, batched, int(max_new_tokens), sampler, stops)


def _steps(model, prompts, batched, max_new_tokens, sampler, stops):
    if max_new_tokens == 0:
        return
    context = _Context(model, prompts, max_new_tokens)
    try:
        logits = context.prefill()
        stopped = np.zeros(len(prompts), bool)
        for step in range(max_new_tokens):
            next_ids = sampler(logits)
            if batched:
                yield tuple(None if done else token
                            for done, token in zip(stopped.tolist(), next_ids.tolist()))
            else:
                yield int(next_ids[0])
            if step == max_new_tokens - 1:
                return
            if stops.size:
                stopped |= np.isin(next_ids, stops)
                if stopped.all():
                    return
            logits = context.append(next_ids)
    finally:
        context.release()


def _prompts(prompt_ids, vocab_size: int) -> tuple[list[np.ndarray], bool]:
    """(prompts as int64 arrays, whether prompt_ids is a batch), after checking every id."""
    if isinstance(prompt_ids, np.ndarray):
        if prompt_ids.ndim not in (1, 2):
            raise ValueError(f"prompt_ids has shape {prompt_ids.shape}; expected (T,) for one "
                             "prompt or (B, T) for a batch")
        batched = prompt_ids.ndim == 2
    elif isinstance(prompt_ids, (str, bytes)) or not isinstance(prompt_ids, Iterable):
        raise ValueError(f"prompt_ids must be token ids (a list of ints), got "
                         f"{type(prompt_ids).__name__}; encode text with the tokenizer first")
    else:
        prompt_ids = list(prompt_ids)
        batched = bool(prompt_ids) and isinstance(prompt_ids[0], (Iterable, np.ndarray)) \
            and not isinstance(prompt_ids[0], (str, bytes))
    rows = list(prompt_ids) if batched else [prompt_ids]
    prompts = []
    for number, row in enumerate(rows):
        name = f"prompt_ids[{number}]" if batched else "prompt_ids"
        ids = _token_ids(name, row, vocab_size)
        if not len(ids):
            raise ValueError(f"{name} is empty; generation needs at least one token to start "
                             "from (e.g. the end-of-text token)")
        prompts.append(ids)
    return prompts, batched


def _token_ids(name: str, ids, vocab_size: int) -> np.ndarray:
    """ids as a 1-D int64 array, or ValueError if they are not ids of the vocabulary."""
    try:
        array = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a sequence of token ids") from None
    if array.size == 0:
        return np.empty(0, np.int64)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be a flat sequence of integer token ids, got an array "
                         f"of shape {array.shape} and dtype {array.dtype}")
    if array.min() < 0 or array.max() >= vocab_size:
        bad = array[(array < 0) | (array >= vocab_size)][0]
        raise ValueError(f"{name} holds the id {bad}, outside the vocabulary [0, {vocab_size})")
    return array.astype(np.int64)


# ---------------------------------------------------------------------------------- text


def decode_stream(tokens: Iterable[int], tokenizer, stop_tokens: Iterable[int] = ()
                  ) -> Iterator[str]:
    """The text of tokens as they arrive, in pieces, until a stop token (not shown). A
    byte-level token may end inside a character's UTF-8 bytes: they wait for the rest (bytes
    that never form a character become U+FFFD)."""
    stops = set(stop_tokens)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for token in tokens:
        if token in stops:
            break
        piece = decoder.decode(tokenizer.decode_bytes([token]))
        if piece:
            yield piece
    rest = decoder.decode(b"", final=True)
    if rest:
        yield rest


def end_of_text_id(tokenizer) -> int | None:
    """The id of the tokenizer's end-of-text token (byte or naive mode's), None if it has none."""
    specials = tokenizer.special_tokens
    return next((specials[token] for token in END_OF_TEXT if token in specials), None)


def start_ids(tokenizer) -> list[int]:
    """What an empty prompt starts from: the end-of-text token, or a newline without one."""
    end_of_text = end_of_text_id(tokenizer)
    return [end_of_text] if end_of_text is not None else tokenizer.encode("\n")


def stream_text(model: GPT, tokenizer, prompt: str = "", max_new_tokens: int = 200,
                temperature: float = 1.0, top_k: int | None = None, seed=None,
                top_p: float | None = None, stop_tokens: Iterable[int] = ()) -> Iterator[str]:
    """The text generated after prompt, in pieces as tokens arrive (a stop token that ends
    the text is not shown). An empty prompt starts from start_ids(tokenizer)."""
    ids = tokenizer.encode(prompt) if prompt else start_ids(tokenizer)
    stop_tokens = list(stop_tokens)
    tokens = generate_stream(model, ids, max_new_tokens, temperature, top_k, top_p, stop_tokens,
                             seed)
    return decode_stream(tokens, tokenizer, stop_tokens)


def sample(model: GPT, tokenizer, prompt: str = "", max_new_tokens: int = 200,
           temperature: float = 1.0, top_k: int | None = None, seed=None,
           top_p: float | None = None, stop_tokens: Iterable[int] = ()) -> str:
    """The text generated after prompt (not including it): stream_text joined."""
    return "".join(stream_text(model, tokenizer, prompt, max_new_tokens, temperature, top_k,
                               seed, top_p, stop_tokens))
