"""`llm serve`'s errors over plain HTTP: each bad request gets OpenAI's error object with its
status (400, 401, 404, 405, 413, 429) and never a traceback or a hung connection; a client that
goes away frees its slot at once; a closed batcher answers 503."""
import json
import time

import pytest

httpx = pytest.importorskip("httpx")

TIMEOUT = 30.0


def post(server, path: str, body=None, content: bytes | None = None, **headers):
    return httpx.post(server.url + path, json=body if content is None else None,
                      content=content, headers=headers, timeout=TIMEOUT)


def assert_error(response, status: int, param=None, code=None, match: str = ""):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param and error["code"] == code, error
    assert match in error["message"] and "Traceback" not in response.text


@pytest.mark.parametrize("body, param, code, match", [
    ({"prompt": "a", "temperature": "hot"}, "temperature", "invalid_value", "[0, 2]"),
    ({"prompt": "a", "max_tokens": -3}, "max_tokens", "invalid_value", "[1, 128]"),
    ({"prompt": "a", "max_tokens": 10 ** 12}, "max_tokens", "invalid_value", "[1, 128]"),
    ({"prompt": "a", "max_tokens": True}, "max_tokens", "invalid_value", ""),
    ({"prompt": "a", "top_p": 0}, "top_p", "invalid_value", "(0, 1]"),
    ({"prompt": "a", "stop": ["a", "b", "c", "d", "e"]}, "stop", "invalid_value", "at most 4"),
    ({"prompt": "a", "n": 2}, "n", "unsupported_value", "only 1"),
    ({"prompt": "a", "colour": "red"}, "colour", "unknown_parameter", "Unrecognized"),
    ({"prompt": [[1, 2], [3]]}, "prompt", "invalid_value", "one prompt per request"),
    ({"prompt": [1, 10 ** 6]}, "prompt", "invalid_value", "outside the vocabulary"),
    ({}, "prompt", "missing_required_parameter", "prompt is required"),
    ({"prompt": "the cat", "max_tokens": 127}, "max_tokens", "context_length_exceeded",
     "can be at most 126"),
])
def test_invalid_completion_requests_are_400(servers, body, param, code, match):
    assert_error(post(servers["chat"], "/v1/completions", body), 400, param, code, match)


@pytest.mark.parametrize("body, param, match", [
    ({"messages": []}, "messages", "non-empty list"),
    ({"messages": [{"role": "robot", "content": "hi"}]}, "messages[0]", "role"),
    ({"messages": [{"role": "user", "content": 3}]}, "messages[0].content", "string"),
    ({"messages": [{"role": "user", "content": "hi"}], "top_logprobs": 2}, "top_logprobs",
     "logprobs=true"),
    ({"messages": [{"role": "user", "content": "hi"}], "logprobs": True, "top_logprobs": 21},
     "top_logprobs", "[0, 20]"),
])
def test_invalid_chat_requests_are_400(servers, body, param, match):
    response = post(servers["chat"], "/v1/chat/completions", body)
    assert_error(response, 400, param, response.json()["error"]["code"], match)


def test_malformed_or_oversized_bodies_and_prompts(servers):
    server = servers["chat"]
    assert_error(post(server, "/v1/completions", content=b'{"prompt": "a",'), 400,
                 code="invalid_json", match="not valid JSON")
    assert_error(post(server, "/v1/completions", content=b'["a"]'), 400, code="invalid_body")
    big = json.dumps({"prompt": "a" * (1 << 20)}).encode()
    assert_error(post(server, "/v1/completions", content=big), 413, code="request_too_large")
    assert_error(post(server, "/v1/completions", {"prompt": "the cat " * 100}), 413, "prompt",
                 "context_length_exceeded", "shorten it")
    long_chat = {"messages": [{"role": "user", "content": "the cat " * 100}]}
    assert_error(post(server, "/v1/chat/completions", long_chat), 413, "messages",
                 "context_length_exceeded")
    assert_error(httpx.get(server.url + "/v1/nothing", timeout=TIMEOUT), 404, code="not_found")
    assert_error(httpx.get(server.url + "/v1/completions", timeout=TIMEOUT), 405)


def test_the_api_key_and_a_model_without_chat(servers):
    server = servers["plain"]
    body = {"prompt": "the", "max_tokens": 3}
    assert_error(post(server, "/v1/completions", body), 401, code="invalid_api_key")
    assert_error(post(server, "/v1/completions", body, Authorization="Bearer WRONG"), 401,
                 code="invalid_api_key")
    assert_error(httpx.get(server.url + "/v1/models", timeout=TIMEOUT), 401,
                 code="invalid_api_key")
    assert post(server, "/v1/completions", body, Authorization="Bearer KEY").status_code == 200
    chat = post(server, "/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]},
                Authorization="Bearer KEY")
    assert_error(chat, 400, "messages", "model_not_chat", "not trained for chat")
    assert httpx.get(server.url + "/", timeout=TIMEOUT).status_code == 200    # the page: no key


def active(server) -> int:
    return httpx.get(server.url + "/health", timeout=TIMEOUT).json()["active"]


def wait_free(server, within: float) -> float:
    """Seconds until the server has no active request (fails after within seconds)."""
    start = time.monotonic()
    while active(server):
        assert time.monotonic() - start < within, "the slot was not freed"
        time.sleep(0.01)
    return time.monotonic() - start


LONG = {"prompt": "the cat", "max_tokens": 1000, "temperature": 0}


def test_a_full_server_says_429_and_a_client_that_leaves_frees_its_slot(servers):
    server = servers["tight"]          # one slot, no queue, a model slow enough to hold it
    started = time.monotonic()
    short = post(server, "/v1/completions", LONG | {"max_tokens": 100})
    per_token = (time.monotonic() - started) / short.json()["usage"]["completion_tokens"]
    with httpx.Client(timeout=TIMEOUT) as client:
        with client.stream("POST", server.url + "/v1/completions",
                           json=LONG | {"stream": True}) as stream:
            lines = stream.iter_lines()
            assert next(lines).startswith("data: ")         # decoding
            busy = post(server, "/v1/completions", {"prompt": "a", "max_tokens": 2})
            assert_error(busy, 429, code="rate_limit_exceeded", match="server is full")
        freed = wait_free(server, 10.0)      # the stream is closed: its slot frees at once
    assert freed < 900 * per_token / 2, (freed, per_token)
    with pytest.raises(httpx.ReadTimeout):   # a non-streamed request given up by its client
        httpx.post(server.url + "/v1/completions", json=LONG, timeout=0.3)
    freed = wait_free(server, 10.0)
    assert freed < 900 * per_token / 2, (freed, per_token)
    assert post(server, "/v1/completions", {"prompt": "a", "max_tokens": 2}).status_code == 200


def test_a_closed_batcher_answers_503(model_dirs):
    pytest.importorskip("starlette")
    from starlette.testclient import TestClient

    from llm.model import load
    from llm.serve.api import create_app

    app = create_app(*load(model_dirs["plain"]), "plain")
    with TestClient(app) as client:
        assert client.post("/v1/completions", json={"prompt": "a", "max_tokens": 2}
                           ).status_code == 200
        app.state.server.batcher.close()
        response = client.post("/v1/completions", json={"prompt": "a", "max_tokens": 2})
        assert_error(response, 503, code="shutting_down")
