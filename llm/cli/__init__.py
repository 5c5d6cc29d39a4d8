"""The `llm` command line: `llm <group> <verb> [options]`, the top layer of the package.

One module per verb group adds its verbs (a `register(subparsers)` function): tokenizer,
embeddings (word2vec), data, train (train, eval), demo, generate (generate, chat), serve, export,
bench. This file only dispatches, configures logging and turns errors into one line on stderr.
"""
import argparse
import logging
import os
import sys
from pathlib import Path

import llm
from llm.cli import bench, data, demo, embeddings, export, generate, serve, tokenizer, train
from llm.cli.logs import configure_logging, default_log_file

# In the order `llm --help` lists them.
VERB_GROUPS = (tokenizer, embeddings, bench, train, demo, data, generate, serve, export)

log = logging.getLogger("llm")


def cmd_info(args: argparse.Namespace) -> int:
    for key, value in llm.build_info().items():
        print(f"{key:12} {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm",
        description="Train and use a GPT-style language model built from first principles "
                    "(BPE tokenizer, word2vec, transformer, AdamW) on the CPU.",
    )
    parser.add_argument("--version", action="version",
                        version=f"llm-from-scratch {llm.__version__}")
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="console logging level (default: INFO)")
    parser.add_argument("--log-file", type=Path, default=None,
                        help=f"debug log file (default: {default_log_file()})")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    info = commands.add_parser("info",
                               help="show build facts: compiler, flags, SIMD level, threads")
    info.set_defaults(func=cmd_info)
    for group in VERB_GROUPS:
        group.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level, args.log_file or default_log_file())
    try:
        status = args.func(args) or 0
        sys.stdout.flush()  # a closed pipe shows here, inside the handlers below
        return status
    except KeyboardInterrupt:
        print("llm: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`llm ... | head`): not an error; keep Python's exit-time flush
        # of stdout from raising again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except MemoryError as error:    # NumPy's names the size it could not allocate
        log.debug("command failed", exc_info=True)
        print(f"llm: error: not enough memory: {error or 'an allocation failed'}; choose "
              "smaller sizes", file=sys.stderr)
        return 1
    except (ValueError, OSError) as error:
        log.debug("command failed", exc_info=True)
        print(f"llm: error: {error}", file=sys.stderr)
        return 1
