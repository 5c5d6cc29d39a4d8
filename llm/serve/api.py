"""The HTTP server of `llm serve` (Starlette): OpenAI's /v1/models, /v1/completions and
/v1/chat/completions over one Batcher, the chat page at /, and /health.

    app = create_app(model, tokenizer, "demo", api_key=None, max_batch=8, max_waiting=8)
    uvicorn.run(app, host="127.0.0.1", port=8000)

Each request becomes a batching.Job whose events the worker thread puts in the request's
Mailbox; the handler turns them into one JSON response or server-sent events (`data: {chunk}`
..., `data: [DONE]`; a chunk at most every STREAM_INTERVAL_SECONDS, with every token drawn
meanwhile). A client that goes away cancels its job (its row leaves the batch before the next
step). Every error is OpenAI's error object with its status: 400 invalid request, 401 missing
or wrong API key, 404/405 unknown route, 413 body or prompt too large, 429 every slot and queue
place taken, 503 shutting down, 500 a model failure (logged; the client never gets a
traceback).
"""
import asyncio
import contextlib
import hmac
import json
import logging
import socket
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from llm.data.chat_template import ChatTemplate
from llm.generate import start_ids
from llm.model import load
from llm.serve import protocol
from llm.serve.batching import Batcher, Busy, Closed, Failed, Finished, Job, Token
from llm.serve.mailbox import Mailbox
from llm.serve.protocol import ApiError
from llm.serve.text import TextStream

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
MAX_BODY_BYTES = 1 << 20
DISCONNECT_POLL_SECONDS = 0.1
STREAM_INTERVAL_SECONDS = 0.02


@dataclass
class _Piece:
    """Text ready to send and the tokens it came with; the last piece has finish ("stop",
    "length") and completion_tokens (every token drawn)."""

    text: str
    tokens: list[Token]
    finish: str | None = None
    completion_tokens: int = 0


class _EventStream(StreamingResponse):
    """Server-sent events that call on_close however the response ends (done, client gone)."""

    def __init__(self, content, on_close):
        super().__init__(content, media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.on_close = on_close

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.on_close()


class Server:
    """The routes' state: the model, its tokenizer and chat template (None without one), the
    batcher (made when the app starts), the model id and API key."""

    def __init__(self, model, tokenizer, name: str, api_key: str | None, max_batch: int,
                 max_waiting: int, max_body_bytes: int):
        self.model, self.tokenizer, self.name, self.api_key = model, tokenizer, name, api_key
        self.block_size = model.config.block_size
        self.max_batch, self.max_waiting = max_batch, max_waiting
        self.max_body_bytes = max_body_bytes
        try:
            self.template, self.no_chat = ChatTemplate(tokenizer), None
        except ValueError as error:
            self.template, self.no_chat = None, str(error)
        self.batcher: Batcher | None = None
        self.created = protocol.now()

    @contextlib.asynccontextmanager
    async def lifespan(self, app):
        self.batcher = Batcher(self.model, self.max_batch, self.max_waiting)
        log.info("serving %s (%d-token context, up to %d requests decoded together)",
                 self.name, self.block_size, self.max_batch)
        try:
            yield
        finally:
            self.batcher.close()

    # ---------------------------------------------------------------- routes

    async def index(self, request: Request):
        return FileResponse(STATIC / "index.html")

    async def health(self, request: Request):
        active, waiting = self.batcher.load
        return JSONResponse({"status": "ok", "model": self.name, "chat": self.no_chat is None,
                             "context_length": self.block_size, "active": active,
                             "waiting": waiting})

    async def models(self, request: Request):
        self._authorize(request)
        return JSONResponse({"object": "list", "data": [
            {"id": self.name, "object": "model", "created": self.created,
             "owned_by": "llm-from-scratch"}]})

    async def completions(self, request: Request):
        self._authorize(request)
        body = await self._json(request)
        generation = protocol.parse_completion(body, self.tokenizer, self.block_size,
                                               start_ids(self.tokenizer))
        return await self._respond(request, generation, chat=False)

    async def chat_completions(self, request: Request):
        self._authorize(request)
        body = await self._json(request)
        if self.template is None:
            raise ApiError(400, self.no_chat, param="messages", code="model_not_chat")
        generation = protocol.parse_chat(body, self.template, self.block_size)
        return await self._respond(request, generation, chat=True)

    # ---------------------------------------------------------------- requests

    def _authorize(self, request: Request) -> None:
        if self.api_key is None:
            return
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {self.api_key}".encode()):
            raise ApiError(401, "missing or wrong API key: send the header 'Authorization: "
                                "Bearer KEY' with the key given to --api-key",
                           kind="authentication_error", code="invalid_api_key")

    async def _json(self, request: Request):
        """The body parsed as JSON, at most max_body_bytes (413 beyond, 400 if not JSON)."""
        too_large = ApiError(413, f"the request body is larger than {self.max_body_bytes} "
                                  "bytes", code="request_too_large")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            raise too_large
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > self.max_body_bytes:
                raise too_large
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as error:
            raise ApiError(400, f"the body is not valid JSON: {error}",
                           code="invalid_json") from None

    async def _respond(self, request: Request, generation: protocol.Generation, chat: bool):
        mailbox = Mailbox(asyncio.get_running_loop())
        job = Job(generation.prompt, generation.max_tokens, generation.sampling, mailbox.put,
                  generation.stop_tokens, generation.top_logprobs)
        try:
            self.batcher.submit(job)
        except Busy as error:
            raise ApiError(429, str(error), kind="rate_limit_error",
                           code="rate_limit_exceeded") from None
        except Closed as error:
            raise ApiError(503, str(error), kind="server_error", code="shutting_down") from None
        pieces = self._pieces(mailbox, TextStream(self.tokenizer, generation.stop))
        shape = _Shape(self, generation, chat)
        if generation.stream:
            return _EventStream(self._events(pieces, shape), lambda: self.batcher.cancel(job))
        try:
            return JSONResponse(await _until_disconnected(request, shape.whole(pieces)))
        finally:
            self.batcher.cancel(job)

    @staticmethod
    async def _pieces(mailbox: Mailbox, text: TextStream):
        """The job's events as _Pieces: text with the tokens it came with, until the end.

        The first piece goes as soon as there is text, then a piece at most every
        STREAM_INTERVAL_SECONDS with every token drawn meanwhile, and the last at once: a slow
        model's tokens go one by one, a fast one's are not each charged a chunk's cost (JSON,
        the event, the client's parsing), which is larger than the model's time at the demo's
        size, and a reader sees no difference at 50 chunks a second."""
        loop = asyncio.get_running_loop()
        tokens, drawn, not_before = [], 0, None
        while True:
            sendable = ""
            for event in await mailbox.take(not_before):
                if isinstance(event, Token):
                    drawn += 1
                    tokens.append(event)
                    sendable += text.push(event.id)
                    if text.stopped:
                        yield _Piece(sendable, tokens, "stop", drawn)
                        return
                elif isinstance(event, Finished):
                    yield _Piece(sendable + text.flush(), tokens, event.reason,
                                 event.completion_tokens)
                    return
                else:
                    assert isinstance(event, Failed)
                    raise ApiError(503 if event.shutdown else 500, event.message,
                                   kind="server_error", code="shutting_down" if event.shutdown
                                   else None)
            if sendable:
                yield _Piece(sendable, tokens)
                tokens, not_before = [], loop.time() + STREAM_INTERVAL_SECONDS

    @staticmethod
    async def _events(pieces, shape: "_Shape"):
        """Server-sent events: a chunk per piece, the usage chunk if asked, then [DONE]; an
        error ends the stream with an error event."""
        try:
            for chunk in shape.opening():
                yield _event(chunk)
            async for piece in pieces:
                yield _event(shape.chunk(piece))
            if shape.generation.include_usage:
                yield _event(shape.usage_chunk())
            yield "data: [DONE]\n\n"
        except ApiError as error:
            log.warning("a stream ended in an error: %s", error.message)
            yield _event(error.body())


class _Shape:
    """The OpenAI shapes of one response: ids, chunks, the whole response and its usage."""

    def __init__(self, server: Server, generation: protocol.Generation, chat: bool):
        self.tokenizer, self.model, self.generation, self.chat = \
            server.tokenizer, server.name, generation, chat
        self.id = protocol.new_id("chatcmpl" if chat else "cmpl")
        self.created = protocol.now()
        self.offset = 0             # characters sent so far (completions' text_offset)
        self.completion_tokens = 0

    def _logprobs(self, tokens: list[Token]) -> dict | None:
        if self.generation.top_logprobs is None:
            return None
        if self.chat:
            return protocol.chat_logprobs(self.tokenizer, tokens)
        return protocol.completion_logprobs(self.tokenizer, tokens, self.offset)

    def _choice(self, piece: _Piece, whole: bool) -> dict:
        logprobs = self._logprobs(piece.tokens) if piece.tokens or whole else None
        self.offset += len(piece.text)
        if piece.finish:
            self.completion_tokens = piece.completion_tokens
        if not self.chat:
            return {"index": 0, "text": piece.text, "logprobs": logprobs,
                    "finish_reason": piece.finish}
        content = {"role": "assistant", "content": piece.text, "refusal": None}
        if not whole:
            content = {"content": piece.text} if piece.text or not piece.finish else {}
        return {"index": 0, "message" if whole else "delta": content, "logprobs": logprobs,
                "finish_reason": piece.finish}

    def _head(self, kind: str) -> dict:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}

    def opening(self) -> list[dict]:
        """The chunks before the first token: chat's role announcement."""
        if not self.chat:
            return []
        return [self._head("chat.completion.chunk") | {"choices": [
            {"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
             "finish_reason": None}]}]

    def chunk(self, piece: _Piece) -> dict:
        kind = "chat.completion.chunk" if self.chat else "text_completion"
        return self._head(kind) | {"choices": [self._choice(piece, whole=False)]}

    def usage_chunk(self) -> dict:
        kind = "chat.completion.chunk" if self.chat else "text_completion"
        return self._head(kind) | {"choices": [], "usage": self._usage()}

    def _usage(self) -> dict:
        return protocol.usage(len(self.generation.prompt), self.completion_tokens)

    async def whole(self, pieces) -> dict:
        """The non-streamed response: every piece joined."""
        text, tokens, finish = [], [], None
        async for piece in pieces:
            text.append(piece.text)
            tokens += piece.tokens
            finish, completion_tokens = piece.finish, piece.completion_tokens
        whole = _Piece("".join(text), tokens, finish, completion_tokens)
        kind = "chat.completion" if self.chat else "text_completion"
        return self._head(kind) | {"choices": [self._choice(whole, whole=True)],
                                   "usage": self._usage()}


def _event(data: dict) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _until_disconnected(request: Request, work):
    """await work (a coroutine), cancelled if the client disconnects first (checked every
    DISCONNECT_POLL_SECONDS); a disconnected client gets no response."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=DISCONNECT_POLL_SECONDS)
            if done:
                return task.result()
            if await request.is_disconnected():
                raise ApiError(499, "the client disconnected")
    finally:
        task.cancel()


def _error_response(status: int, message: str, kind: str, code: str | None) -> JSONResponse:
    return JSONResponse(ApiError(status, message, kind, code=code).body(), status_code=status)


async def _api_error(request: Request, error: ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status)


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    return _error_response(error.status_code, f"{request.method} {request.url.path}: "
                                              f"{error.detail}", "invalid_request_error",
                           "not_found" if error.status_code == 404 else None)


async def _internal_error(request: Request, error: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=error)
    return _error_response(500, "the server failed on this request (see its log)",
                           "server_error", None)


def create_app(model, tokenizer, name: str, api_key: str | None = None, max_batch: int = 8,
               max_waiting: int = 8, max_body_bytes: int = MAX_BODY_BYTES) -> Starlette:
    """The Starlette app serving model (a GPT) with tokenizer under the model id name; with
    api_key, /v1/ routes need 'Authorization: Bearer api_key'. The batcher starts and stops
    with the app (its lifespan)."""
    server = Server(model, tokenizer, name, api_key, max_batch, max_waiting, max_body_bytes)
    routes = [
        Route("/", server.index),
        Route("/health", server.health),
        Route("/v1/models", server.models),
        Route("/v1/completions", server.completions, methods=["POST"]),
        Route("/v1/chat/completions", server.chat_completions, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=server.lifespan,
                    exception_handlers={ApiError: _api_error, HTTPException: _http_error,
                                        Exception: _internal_error})
    app.state.server = server
    return app


def run(model_dir: Path, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None,
        max_batch: int = 8, max_waiting: int = 8, dtype: str = "f32") -> None:
    """Serve the model directory model_dir on host:port (0: a free port) until interrupted
    (Ctrl-C), its matrices kept as dtype (llm.model.load). A port that cannot be bound is an
    OSError that names it, before anything runs."""
    model, tokenizer = load(model_dir, dtype=dtype)
    app = create_app(model, tokenizer, model_name(model_dir), api_key, max_batch, max_waiting)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        listening = socket.create_server((host, port), family=family)
    except OSError as error:
        raise OSError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    # Accepted connections inherit this: without it a keep-alive connection's later responses
    # (headers and body written apart) wait ~40 ms for the client's delayed ACK (Nagle), and
    # asyncio, which sets it itself for sockets it makes, skips ours (its proto field is 0).
    listening.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    port = listening.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    log.info("the chat page is at http://%s:%d/ and the API at http://%s:%d/v1", shown, port,
             shown, port)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=3)
    uvicorn.Server(config).run(sockets=[listening])


def model_name(model_dir: Path) -> str:
    """The id /v1/models shows: the directory's name, with its parent's for a run's model/ or
    checkpoint/ ("shakespeare/model")."""
    path = Path(model_dir).resolve()
    return f"{path.parent.name}/{path.name}" if path.name in ("model", "checkpoint") \
        else path.name
