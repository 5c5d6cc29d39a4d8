"""The OpenAI API as this server speaks it: request bodies checked into a Generation, and the
shapes of responses, stream chunks, log-probabilities and errors.

Fields of OpenAI's API this server does not implement are refused with a 400 unless they hold
their default (n=1, echo=false, penalties 0...); a field the API does not have is a 400 too, as
OpenAI's own server answers. top_k is an extension (as llama.cpp and vLLM accept it). One
model is served: `model` may name any string. logprobs are those of the model's distribution
(the softmax of its logits), whatever the temperature or top-k/top-p of the sampling.
Context limits (no sliding window in the server): a prompt that leaves no room for one token is a
413 (code context_length_exceeded); an explicit max_tokens beyond the room left is a 400 with the
same code; without max_tokens, completions generate up to 16 tokens (OpenAI's default) and chat
up to the end of the context.
"""
import numbers
import time
import uuid
from dataclasses import dataclass

from llm.data.conversations import ASSISTANT, SYSTEM, USER, Turn
from llm.model.sampling import SamplingConfig
from llm.serve.batching import MAX_TOP_LOGPROBS, Token

COMPLETION_DEFAULT_MAX_TOKENS = 16
MAX_STOP_STRINGS = 4
ROLES = {"system": SYSTEM, "developer": SYSTEM, "user": USER, "assistant": ASSISTANT}

# accepted at these values only (what OpenAI does by default)
DEFAULT_ONLY = {"n": 1, "best_of": 1, "echo": False, "presence_penalty": 0,
                "frequency_penalty": 0, "suffix": None, "logit_bias": None}
COMMON_FIELDS = {"model", "max_tokens", "temperature", "top_p", "top_k", "stop", "seed", "stream",
                 "stream_options", "user", "n", "presence_penalty", "frequency_penalty",
                 "logit_bias", "logprobs"}
COMPLETION_FIELDS = COMMON_FIELDS | {"prompt", "echo", "suffix", "best_of"}
CHAT_FIELDS = COMMON_FIELDS | {"messages", "top_logprobs", "max_completion_tokens"}


class ApiError(Exception):
    """An error the client gets as OpenAI's error object, with an HTTP status."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.code = \
            status, message, kind, param, code

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param,
                          "code": self.code}}


@dataclass(frozen=True)
class Generation:
    """A checked request: prompt token ids, at most max_tokens new ones drawn as sampling says,
    ending at stop_tokens (ids) or stop (strings); top_logprobs None (no logprobs) or the number
    of alternatives per token; stream: server-sent events (include_usage: a last chunk with the
    token counts)."""

    prompt: list[int]
    max_tokens: int
    sampling: SamplingConfig
    stop: list[str]
    stop_tokens: frozenset[int]
    top_logprobs: int | None
    stream: bool
    include_usage: bool


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _field(body: dict, name: str, test, rule: str, default=None):
    """body[name], or default when absent or null; a 400 naming the rule if test fails."""
    value = body.get(name)
    if value is None:
        return default
    if not test(value):
        raise ApiError(400, f"{name}={value!r} is invalid: {rule}", param=name,
                       code="invalid_value")
    return value


def _check_fields(body, allowed: set[str]) -> None:
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object", code="invalid_body")
    for name in body:
        if name not in allowed:
            raise ApiError(400, f"Unrecognized request argument supplied: {name}", param=name,
                           code="unknown_parameter")
    for name, default in DEFAULT_ONLY.items():
        if name in body and body[name] not in (None, default) and \
                not (name == "logit_bias" and body[name] == {}):
            raise ApiError(400, f"{name}={body[name]!r} is not supported by this server "
                                f"(only {default!r})", param=name, code="unsupported_value")


def _sampling(body: dict) -> SamplingConfig:
    temperature = _field(body, "temperature", lambda v: _is_number(v) and 0 <= v <= 2,
                         "a number in [0, 2] (0 picks the likeliest token)", 1.0)
    top_p = _field(body, "top_p", lambda v: _is_number(v) and 0 < v <= 1,
                   "a number in (0, 1]", 1.0)
    top_k = _field(body, "top_k", lambda v: _is_int(v) and v >= 0,
                   "an integer >= 1 (0: no limit)", 0)
    seed = _field(body, "seed", lambda v: _is_int(v) and -2 ** 63 <= v < 2 ** 64,
                  "an integer", None)
    return SamplingConfig(float(temperature), int(top_k) or None,
                          None if top_p == 1 else float(top_p),
                          None if seed is None else int(seed) % 2 ** 64)


def _stop(body: dict) -> list[str]:
    stop = _field(body, "stop", lambda v: isinstance(v, str) or (
        isinstance(v, list) and len(v) <= MAX_STOP_STRINGS
        and all(isinstance(s, str) for s in v)),
        f"a string or a list of at most {MAX_STOP_STRINGS} strings", [])
    return [stop] if isinstance(stop, str) else stop


def _generation(body: dict, prompt: list[int], prompt_field: str, block_size: int,
                default_max_tokens: int | None, stop_tokens: frozenset[int],
                top_logprobs: int | None, max_tokens_name: str) -> Generation:
    """The Generation of a checked prompt (from body[prompt_field]) and the body's other
    fields."""
    max_tokens = _field(body, max_tokens_name, lambda v: _is_int(v) and 1 <= v <= block_size,
                        f"an integer in [1, {block_size}] (the model's context)")
    if len(prompt) >= block_size:
        raise ApiError(413, f"the prompt is {len(prompt)} tokens; this model's context is "
                            f"{block_size} tokens and the reply needs at least one: shorten it",
                       param=prompt_field, code="context_length_exceeded")
    room = block_size - len(prompt)
    if max_tokens is None:
        max_tokens = room if default_max_tokens is None else min(default_max_tokens, room)
    elif max_tokens > room:
        raise ApiError(400, f"this model's context is {block_size} tokens and the prompt takes "
                            f"{len(prompt)}: {max_tokens_name} can be at most {room}, got "
                            f"{max_tokens}", param=max_tokens_name, code="context_length_exceeded")
    stream = _field(body, "stream", lambda v: isinstance(v, bool), "true or false", False)
    options = _field(body, "stream_options", lambda v: isinstance(v, dict) and set(v) <= {
        "include_usage"} and isinstance(v.get("include_usage", False), bool),
        'an object {"include_usage": true or false}', {})
    if options and not stream:
        raise ApiError(400, "stream_options is only allowed with stream=true",
                       param="stream_options", code="invalid_value")
    _field(body, "model", lambda v: isinstance(v, str), "a string (the model id)")
    _field(body, "user", lambda v: isinstance(v, str), "a string")
    return Generation(prompt, int(max_tokens), _sampling(body), _stop(body), stop_tokens,
                      top_logprobs, stream, bool(options.get("include_usage", False)))


def parse_completion(body, tokenizer, block_size: int, start_ids: list[int]) -> Generation:
    """A /v1/completions body: prompt is text, token ids, or a list of one of those ("" starts
    from start_ids); logprobs is the number of alternatives per token (0 .. 20)."""
    _check_fields(body, COMPLETION_FIELDS)
    if "prompt" not in body:
        raise ApiError(400, "prompt is required (text or a list of token ids)", param="prompt",
                       code="missing_required_parameter")
    prompt = body["prompt"]
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], (str, list)):
        prompt = prompt[0]
    if isinstance(prompt, str):
        ids = tokenizer.encode(prompt) if prompt else list(start_ids)
    elif isinstance(prompt, list) and prompt and all(_is_int(i) for i in prompt):
        if not all(0 <= i < tokenizer.vocab_size for i in prompt):
            raise ApiError(400, f"prompt holds token ids outside the vocabulary [0, "
                                f"{tokenizer.vocab_size})", param="prompt", code="invalid_value")
        ids = [int(i) for i in prompt]
    else:
        raise ApiError(400, "prompt must be a string, or a non-empty list of token ids (one "
                            "prompt per request)", param="prompt", code="invalid_value")
    top = _field(body, "logprobs", lambda v: _is_int(v) and 0 <= v <= MAX_TOP_LOGPROBS,
                 f"an integer in [0, {MAX_TOP_LOGPROBS}] (alternatives per token)")
    end_of_text = tokenizer.end_of_text_id
    stops = frozenset() if end_of_text is None else frozenset({end_of_text})
    return _generation(body, ids, "prompt", block_size, COMPLETION_DEFAULT_MAX_TOKENS, stops,
                       top, "max_tokens")


def parse_chat(body, template, block_size: int) -> Generation:
    """A /v1/chat/completions body, its messages rendered with the model's chat template
    (llm.data.chat_template.ChatTemplate); logprobs is true or false, top_logprobs 0 .. 20."""
    _check_fields(body, CHAT_FIELDS)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "messages must be a non-empty list of {role, content} objects",
                       param="messages", code="invalid_value")
    turns = [_turn(message, number) for number, message in enumerate(messages)]
    logprobs = _field(body, "logprobs", lambda v: isinstance(v, bool), "true or false", False)
    top = _field(body, "top_logprobs", lambda v: _is_int(v) and 0 <= v <= MAX_TOP_LOGPROBS,
                 f"an integer in [0, {MAX_TOP_LOGPROBS}]")
    if top is not None and not logprobs:
        raise ApiError(400, "top_logprobs needs logprobs=true", param="top_logprobs",
                       code="invalid_value")
    name = "max_completion_tokens" if body.get("max_completion_tokens") is not None \
        else "max_tokens"
    return _generation(body, template.prompt_ids(turns), "messages", block_size, None,
                       frozenset({template.end_id}), (top or 0) if logprobs else None, name)


def _turn(message, number: int) -> Turn:
    """A chat message as a Turn: a role and text content (a string or a list of text parts)."""
    param = f"messages[{number}]"
    if not isinstance(message, dict) or message.get("role") not in ROLES:
        raise ApiError(400, f"{param} must be an object with a role among {sorted(ROLES)} and a "
                            "content", param=param, code="invalid_value")
    content = message.get("content")
    if isinstance(content, list) and all(isinstance(part, dict) and part.get("type") == "text"
                                         and isinstance(part.get("text"), str)
                                         for part in content):
        content = "".join(part["text"] for part in content)
    if not isinstance(content, str):
        raise ApiError(400, f"{param}.content must be a string or a list of text parts",
                       param=f"{param}.content", code="invalid_value")
    return Turn(ROLES[message["role"]], content)


# ---------------------------------------------------------------- responses


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def now() -> int:
    return int(time.time())


def usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def token_text(tokenizer, token: int) -> str:
    """A token's text alone (a cut UTF-8 character shows as U+FFFD; its bytes are exact)."""
    return tokenizer.decode_bytes([token]).decode("utf-8", errors="replace")


def completion_logprobs(tokenizer, tokens: list[Token], offset: int) -> dict:
    """The legacy completions logprobs object of tokens, text_offset counted from offset
    (characters of the completion before them)."""
    texts = [token_text(tokenizer, token.id) for token in tokens]
    offsets = []
    for text in texts:
        offsets.append(offset)
        offset += len(text)
    return {"tokens": texts, "token_logprobs": [token.logprob for token in tokens],
            "top_logprobs": [{token_text(tokenizer, i): lp for i, lp in token.top}
                             for token in tokens],
            "text_offset": offsets}


def chat_logprobs(tokenizer, tokens: list[Token]) -> dict:
    """The chat logprobs object of tokens: content, one entry per token."""
    def entry(token: int, logprob: float) -> dict:
        return {"token": token_text(tokenizer, token), "logprob": logprob,
                "bytes": list(tokenizer.decode_bytes([token]))}

    return {"content": [entry(token.id, token.logprob)
                        | {"top_logprobs": [entry(i, lp) for i, lp in token.top]}
                        for token in tokens],
            "refusal": None}
