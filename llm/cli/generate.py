"""`llm generate` and `llm chat`: text from a trained model, printed as it is generated.

    llm generate --model runs/shakespeare/model --prompt "ROMEO:" --max-new-tokens 300
    llm chat --model runs/chat/model --system "You answer in one sentence."
"""
import argparse
import sys
from pathlib import Path

from llm.generate import DEFAULT_MAX_NEW_TOKENS, chat, stream_text
from llm.model import INFERENCE_DTYPES, SamplingConfig, load

DTYPE_HELP = ("the type the model's matrices are kept in while generating: f32 (default, as "
              "trained), or bf16 / f16 (16 bits: half the memory and half the bytes read per "
              "token, so faster where memory bandwidth limits; logits differ from f32's by up "
              "to about 2%% (bf16) or 0.2%% (f16) of their spread, which can change a "
              "near-tie token)")


def add_dtype_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dtype", choices=INFERENCE_DTYPES, default="f32", help=DTYPE_HELP)


def add_model_and_sampling_flags(parser: argparse.ArgumentParser, max_new_tokens: int,
                                 defaults: SamplingConfig) -> None:
    parser.add_argument("--model", type=Path, required=True, metavar="DIR",
                        help="a model directory (a run's model/ or checkpoint/, or a Hugging Face "
                             "GPT-2 directory)")
    add_dtype_flag(parser)
    parser.add_argument("--max-new-tokens", type=int, default=max_new_tokens, metavar="N",
                        help=f"tokens to generate at most (default {max_new_tokens})")
    parser.add_argument("--temperature", type=float, default=defaults.temperature, metavar="X",
                        help=f"0 takes the likeliest token; higher is more varied "
                             f"(default {defaults.temperature})")
    parser.add_argument("--top-k", type=int, default=defaults.top_k, metavar="K",
                        help="sample among the K likeliest tokens only "
                             f"(default: {defaults.top_k or 'all'})")
    parser.add_argument("--top-p", type=float, default=defaults.top_p, metavar="P",
                        help="sample among the likeliest tokens holding probability P "
                             f"(nucleus sampling; default {defaults.top_p or 'off'})")
    parser.add_argument("--seed", type=int, default=defaults.seed, metavar="N",
                        help="seed of the sampling (default: a new one each run)")


def sampling_config(args: argparse.Namespace) -> SamplingConfig:
    """The SamplingConfig the sampling flags describe (ValueError names a bad value)."""
    return SamplingConfig(args.temperature, args.top_k, args.top_p, args.seed)


def register(subparsers) -> None:
    generate = subparsers.add_parser(
        "generate", help="continue a prompt with a trained model, streaming the text",
        description="Continue --prompt with a trained model, printing the text as it is "
                    "generated (KV cache; the context window slides past block_size).")
    add_model_and_sampling_flags(generate, DEFAULT_MAX_NEW_TOKENS, SamplingConfig())
    generate.add_argument("--prompt", default="", metavar="TEXT",
                          help="the text to continue (default: the start of a new document)")
    generate.add_argument("--past-end-of-text", action="store_true",
                          help="keep generating after the end-of-text token (default: stop)")
    generate.set_defaults(func=cmd_generate)

    chat_parser = subparsers.add_parser(
        "chat", help="talk with a model trained on conversations",
        description="An interactive chat with a model trained on conversation files "
                    "(`llm train --data chats.jsonl ...`): replies stream as they are generated; "
                    "the history is trimmed from the oldest exchanges to fit the context. "
                    "/reset forgets it, /exit quits.")
    add_model_and_sampling_flags(chat_parser, chat.DEFAULT_MAX_NEW_TOKENS, chat.DEFAULT_SAMPLING)
    chat_parser.add_argument("--system", metavar="TEXT",
                             help="a system prompt (kept in every prompt)")
    chat_parser.set_defaults(func=cmd_chat)


def write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def cmd_generate(args: argparse.Namespace) -> int:
    sampling = sampling_config(args)
    model, tokenizer = load(args.model, dtype=args.dtype)
    end_of_text = tokenizer.end_of_text_id
    stops = [] if args.past_end_of_text or end_of_text is None else [end_of_text]
    pieces = stream_text(model, tokenizer, args.prompt, args.max_new_tokens, sampling, stops)
    write(args.prompt)
    for piece in pieces:
        write(piece)
    write("\n")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    sampling = sampling_config(args)
    model, tokenizer = load(args.model, dtype=args.dtype)
    session = chat.ChatSession(model, tokenizer, args.system, args.max_new_tokens, sampling)
    if sys.stdin.isatty():
        import readline  # noqa: F401  (line editing and history for input())

        read_line = input
    else:
        read_line = read_piped_line
    chat.run_chat(session, read_line, write)
    return 0


def read_piped_line(prompt: str) -> str:
    """input() for a non-terminal stdin: no prompt echoed, EOFError at the end."""
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line.rstrip("\n")
