"""`llm serve`: the OpenAI-compatible HTTP API and the chat page of a trained model.

    llm serve --model runs/chat/model                   http://127.0.0.1:8000/
    llm serve --model runs/chat/model --host 0.0.0.0 --api-key SECRET
"""
import argparse
import sys
from pathlib import Path

from llm.cli.generate import add_dtype_flag
from llm.serve import MISSING_EXTRA

WEB_STACK = ("starlette", "uvicorn", "anyio", "h11")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve a model: an OpenAI-compatible API and a chat page",
        description="Serve a trained model over HTTP: OpenAI's /v1/models, /v1/completions and "
                    "/v1/chat/completions (streaming, logprobs, stop, seed; chat needs a model "
                    "trained on conversations) and a chat page at /. Requests arriving together "
                    "are decoded together, one batched step at a time. Needs the serve extra: "
                    'pip install -e ".[serve]".')
    parser.add_argument("--model", type=Path, required=True, metavar="DIR",
                        help="a model directory (a run's model/ or checkpoint/, or a Hugging "
                             "Face GPT-2 directory)")
    add_dtype_flag(parser)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only; "
                             "0.0.0.0 opens it to the network)")
    parser.add_argument("--port", type=int, default=8000,
                        help="TCP port (default 8000; 0: a free one, shown when it starts)")
    parser.add_argument("--api-key", metavar="KEY",
                        help="require 'Authorization: Bearer KEY' on /v1/ requests "
                             "(default: no key)")
    parser.add_argument("--max-batch", type=int, default=8, metavar="N",
                        help="requests decoded together at most (default 8)")
    parser.add_argument("--max-queue", type=int, default=None, metavar="N",
                        help="requests waiting for a free slot at most; more get HTTP 429 "
                             "(default: --max-batch)")
    parser.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    max_queue = args.max_batch if args.max_queue is None else args.max_queue
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port {args.port}: must be in [0, 65535]")
    if args.max_batch < 1 or max_queue < 0:
        raise ValueError(f"--max-batch {args.max_batch} --max-queue {max_queue}: a batch needs "
                         "at least 1 request, and the queue cannot be negative")
    try:
        from llm.serve import api
    except ModuleNotFoundError as error:
        if error.name not in WEB_STACK:
            raise
        print(f"llm: error: {MISSING_EXTRA} (no module named {error.name!r})", file=sys.stderr)
        return 1
    api.run(args.model, args.host, args.port, args.api_key, args.max_batch, max_queue,
            dtype=args.dtype)
    return 0
