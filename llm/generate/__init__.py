"""Text generation: a prompt's continuation as text, streamed as tokens arrive; chat sessions
(llm.generate.chat). The token-level loop (KV cache, sliding window, batches, stop tokens) is
the model's (llm.model.generation); this layer adds the tokenizer.

    stream_text(model, tokenizer, "Once", 200, SamplingConfig(temperature=0.8, seed=1))
    sample(model, tokenizer, "Once", 200)           the same text, joined
"""
import codecs
from collections.abc import Iterable, Iterator

from llm.model import GPT
from llm.model.generation import generate, generate_stream
from llm.model.sampling import Sampler, SamplingConfig
from llm.tokenizer import Tokenizer

DEFAULT_MAX_NEW_TOKENS = 200

__all__ = ["SamplingConfig", "Sampler", "decode_stream", "generate", "generate_stream", "sample",
           "start_ids", "stream_text"]


def decode_stream(tokens: Iterable[int], tokenizer: Tokenizer, stop_tokens: Iterable[int] = ()
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


def start_ids(tokenizer: Tokenizer) -> list[int]:
    """What an empty prompt starts from: the end-of-text token, or a newline without one."""
    end_of_text = tokenizer.end_of_text_id
    return [end_of_text] if end_of_text is not None else tokenizer.encode("\n")


def stream_text(model: GPT, tokenizer: Tokenizer, prompt: str = "",
                max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
                sampling: SamplingConfig | None = None, stop_tokens: Iterable[int] = ()
                ) -> Iterator[str]:
    """The text generated after prompt, in pieces as tokens arrive (a stop token that ends
    the text is not shown). An empty prompt starts from start_ids(tokenizer)."""
    ids = tokenizer.encode(prompt) if prompt else start_ids(tokenizer)
    stop_tokens = list(stop_tokens)
    tokens = generate_stream(model, ids, max_new_tokens, sampling, stop_tokens)
    return decode_stream(tokens, tokenizer, stop_tokens)


def sample(model: GPT, tokenizer: Tokenizer, prompt: str = "",
           max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
           sampling: SamplingConfig | None = None, stop_tokens: Iterable[int] = ()) -> str:
    """The text generated after prompt (not including it): stream_text joined."""
    return "".join(stream_text(model, tokenizer, prompt, max_new_tokens, sampling, stop_tokens))
