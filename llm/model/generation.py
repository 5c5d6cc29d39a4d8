"""Generating token ids with a KV cache: stop tokens, batched prompts, streaming, and a sliding
window past block_size (text in, text out is llm.generate's, the layer above).

    model.generate(prompt_ids, max_new_tokens, sampling)         new token ids
    model.generate_stream(prompt_ids, max_new_tokens, sampling)  the same, one token at a time

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

Each token is drawn from the logits by a Sampler (llm.model.sampling) made from the
SamplingConfig, which is passed whole.
"""
import numbers
import weakref
from collections.abc import Iterable, Iterator

import numpy as np

from llm.model.kv_cache import KVCache
from llm.model.sampling import Sampler, SamplingConfig

# The KV cache of each model's last finished generation, for its next one: a new cache's pages are
# faulted in as the cache fills (~10 us a token for the small model's 2 MB), a reused one's are
# resident. A running generation owns its cache (it is back here only once the generation ends),
# so interleaved streams on one model never share one. Holds one cache per live model.
_idle_caches: "weakref.WeakKeyDictionary[object, KVCache]" = weakref.WeakKeyDictionary()


class _Context:
    """The tokens each row's next token is conditioned on, and their KV cache.

    tokens, real: (B, P + max_new_tokens) int32 ids and uint8 flags (0 = left padding); columns
    start..end-1 are the window the cache holds (P = the longest prompt). release() hands the
    cache on to the model's next generation.
    """

    def __init__(self, model, prompts: list[np.ndarray], max_new_tokens: int):
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


def generate_stream(model, prompt_ids, max_new_tokens: int,
                    sampling: SamplingConfig | None = None,
                    stop_tokens: Iterable[int] = ()) -> Iterator:
    """New tokens of model (a GPT), yielded as they are produced, each drawn as sampling says
    (None: SamplingConfig(), plain sampling at temperature 1).

    prompt_ids: one prompt (a sequence of token ids, or a 1-D array), or a batch (a sequence of
    such sequences, lengths may differ, or a 2-D array). One prompt yields ints; a batch yields
    a tuple per step with each row's token, None for a row that has stopped. A row stops after
    yielding a token of stop_tokens, or after max_new_tokens tokens; the stream ends when every
    row has stopped. Arguments are checked at once (not at the first next()).
    """
    prompts, batched = _prompts(prompt_ids, model.config.vocab_size)
    return _stream(model, prompts, batched, max_new_tokens, sampling, stop_tokens)


def generate(model, prompt_ids, max_new_tokens: int, sampling: SamplingConfig | None = None,
             stop_tokens: Iterable[int] = ()) -> list:
    """The new tokens of generate_stream: a list of ints for one prompt, a list of such lists
    (one per row) for a batch. A stop token that ended a row is its last token."""
    prompts, batched = _prompts(prompt_ids, model.config.vocab_size)
    steps = _stream(model, prompts, batched, max_new_tokens, sampling, stop_tokens)
    if not batched:
        return list(steps)
    rows = [[] for _ in prompts]
    for step in steps:
        for row, token in zip(rows, step):
            if token is not None:
                row.append(token)
    return rows


def _stream(model, prompts, batched, max_new_tokens, sampling, stop_tokens):
    """The generator of generate_stream for checked prompts, after checking the rest."""
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, numbers.Integral) \
            or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens={max_new_tokens!r}: must be an integer >= 0")
    sampler = Sampler(SamplingConfig() if sampling is None else sampling)
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
