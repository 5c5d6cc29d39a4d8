"""`llm serve` driven as users drive it, with the official openai client: completions and chat,
streamed and not, equal the model's own greedy (and seeded) generation, alone or concurrent;
logprobs are the log-softmax of the model's logits; stop strings and usage as OpenAI's."""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from llm.data.chat_template import ChatTemplate
from llm.data.conversations import USER, Turn
from llm.model import SamplingConfig, load

openai = pytest.importorskip("openai")

GREEDY = SamplingConfig(temperature=0)
TIMEOUT = 30.0


@pytest.fixture(scope="module")
def chat_model(model_dirs):
    return load(model_dirs["chat"])


@pytest.fixture(scope="module")
def client(servers):
    return openai.OpenAI(base_url=servers["chat"].url + "/v1", api_key="unused",
                         timeout=TIMEOUT, max_retries=0)


def expected_text(model, tokenizer, prompt_ids, max_tokens, stop_id, sampling=GREEDY) -> tuple:
    """(text, tokens) model.generate gives, the stop token not shown."""
    tokens = model.generate(prompt_ids, max_tokens, sampling, stop_tokens=[stop_id])
    shown = tokens[:-1] if tokens and tokens[-1] == stop_id else tokens
    return tokenizer.decode(shown), tokens


def chat_prompt(tokenizer, message: str) -> list[int]:
    return ChatTemplate(tokenizer).prompt_ids([Turn(USER, message)])


def test_models_lists_the_served_model(client):
    assert [model.id for model in client.models.list()] == ["chat"]


def test_greedy_completion_equals_the_model_and_streams_the_same_text(client, chat_model):
    model, tokenizer = chat_model
    text, tokens = expected_text(model, tokenizer, tokenizer.encode("the cat"), 40,
                                 tokenizer.end_of_text_id)
    response = client.completions.create(model="chat", prompt="the cat", max_tokens=40,
                                         temperature=0)
    choice = response.choices[0]
    assert choice.text == text
    assert choice.finish_reason == ("stop" if len(tokens) < 40 else "length")
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == \
        (len(tokenizer.encode("the cat")), len(tokens))
    stream = client.completions.create(model="chat", prompt="the cat", max_tokens=40,
                                       temperature=0, stream=True)
    chunks = list(stream)
    assert "".join(chunk.choices[0].text for chunk in chunks) == text
    assert chunks[-1].choices[0].finish_reason == choice.finish_reason


def test_chat_equals_the_model_on_the_template_streamed_or_not(client, chat_model):
    model, tokenizer = chat_model
    end = ChatTemplate(tokenizer).end_id
    seeded = SamplingConfig(temperature=0.9, top_p=0.9, seed=11)
    messages = [{"role": "user", "content": "héllo"}]
    for sampling, options in ((GREEDY, {"temperature": 0}),
                              (seeded, {"temperature": 0.9, "top_p": 0.9, "seed": 11})):
        text, tokens = expected_text(model, tokenizer, chat_prompt(tokenizer, "héllo"), 30, end,
                                     sampling)
        whole = client.chat.completions.create(model="chat", messages=messages, max_tokens=30,
                                               **options)
        assert whole.choices[0].message.content == text
        assert whole.choices[0].message.role == "assistant"
        assert whole.usage.completion_tokens == len(tokens)
        chunks = list(client.chat.completions.create(
            model="chat", messages=messages, max_tokens=30, stream=True,
            stream_options={"include_usage": True}, **options))
        assert chunks[0].choices[0].delta.role == "assistant"
        assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks
                       if chunk.choices) == text
        assert chunks[-1].usage.completion_tokens == len(tokens)


def test_concurrent_requests_each_get_what_they_would_alone(client, chat_model):
    model, tokenizer = chat_model
    prompts = ["the cat", "a dog finds", "héllo wörld", "the", "naïve café sees the moon", "a"]
    expected = [expected_text(model, tokenizer, tokenizer.encode(p), 25 + 5 * n,
                              tokenizer.end_of_text_id)[0] for n, p in enumerate(prompts)]

    def complete(number: int) -> str:
        return client.completions.create(model="chat", prompt=prompts[number], temperature=0,
                                         max_tokens=25 + 5 * number).choices[0].text

    with ThreadPoolExecutor(len(prompts)) as pool:      # 6 requests for 4 slots: 2 wait
        assert list(pool.map(complete, range(len(prompts)))) == expected


def log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def test_logprobs_are_the_log_softmax_of_the_model_logits(client, chat_model):
    model, tokenizer = chat_model
    prompt = chat_prompt(tokenizer, "the moon")
    tokens = model.generate(prompt, 12, GREEDY)
    expected = log_softmax(model.forward(np.array([prompt + tokens]))[0, len(prompt) - 1:-1])
    response = client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "the moon"}], max_tokens=12,
        temperature=0, logprobs=True, top_logprobs=3)
    content = response.choices[0].logprobs.content
    assert [bytes(entry.bytes) for entry in content] == \
        [tokenizer.decode_bytes([t]) for t in tokens]
    for entry, token, row in zip(content, tokens, expected):
        assert entry.logprob == pytest.approx(row[token], abs=1e-4)
        assert [alt.logprob for alt in entry.top_logprobs] == \
            pytest.approx(np.sort(row)[::-1][:3], abs=1e-4)
    legacy = client.completions.create(model="chat", prompt="the", max_tokens=5,
                                       temperature=0, logprobs=2).choices[0].logprobs
    assert len(legacy.tokens) == len(legacy.token_logprobs) == len(legacy.top_logprobs) == 5
    assert legacy.text_offset[0] == 0 and all(len(top) == 2 for top in legacy.top_logprobs)


def test_a_stop_string_ends_the_text_before_it(client, chat_model):
    model, tokenizer = chat_model
    text, _ = expected_text(model, tokenizer, tokenizer.encode("the cat"), 40,
                            tokenizer.end_of_text_id)
    stop = text[5:7]
    for stream in (False, True):
        response = client.completions.create(model="chat", prompt="the cat", max_tokens=40,
                                             temperature=0, stop=[stop, "\x00never"],
                                             stream=stream)
        chunks = list(response) if stream else [response]
        assert "".join(chunk.choices[0].text for chunk in chunks) == text[:text.index(stop)]
        assert chunks[-1].choices[0].finish_reason == "stop"


def test_requests_on_a_kept_alive_connection_do_not_wait_for_delayed_acks(servers):
    """Without TCP_NODELAY on the connection, each response after the first waited ~40 ms for
    the client's delayed ACK (headers and body are written apart)."""
    import time

    import httpx

    with httpx.Client(base_url=servers["chat"].url) as http:
        http.get("/health")
        seconds = []
        for _ in range(9):
            start = time.perf_counter()
            assert http.get("/health").status_code == 200
            seconds.append(time.perf_counter() - start)
    assert sorted(seconds)[4] < 0.02   # the median: ~0.5 ms here, 42 ms before


def test_a_fast_stream_groups_its_tokens_into_fewer_chunks_losing_none(client, chat_model):
    """Chunks go at most every STREAM_INTERVAL_SECONDS (the first and the last at once): this
    model makes a token in well under that, so tokens share chunks, each chunk carrying its
    tokens' logprobs, and the stream adds up to the whole response."""
    messages = [{"role": "user", "content": "the river"}]
    whole = client.chat.completions.create(model="chat", messages=messages, max_tokens=100,
                                           temperature=0, logprobs=True, top_logprobs=2)
    chunks = list(client.chat.completions.create(
        model="chat", messages=messages, max_tokens=100, temperature=0, logprobs=True,
        top_logprobs=2, stream=True, stream_options={"include_usage": True}))
    entries = [entry for chunk in chunks if chunk.choices and chunk.choices[0].logprobs
               for entry in chunk.choices[0].logprobs.content]
    assert [(entry.token, entry.logprob) for entry in entries] == \
        [(entry.token, entry.logprob) for entry in whole.choices[0].logprobs.content]
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices) \
        == whole.choices[0].message.content
    tokens = chunks[-1].usage.completion_tokens
    assert tokens == whole.usage.completion_tokens
    text_chunks = sum(1 for chunk in chunks if chunk.choices and chunk.choices[0].delta.content)
    assert tokens >= 20 and text_chunks < tokens / 2       # here: 100 tokens, 1 or 2 chunks
