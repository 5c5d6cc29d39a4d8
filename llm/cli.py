"""The `llm` command line: `llm <group> <verb> [options]`.

Each feature package registers its own verbs (a `register(subparsers)` function in its `cli`
module), so this file only dispatches, configures logging and turns errors into one line on stderr.
"""
import argparse
import importlib
import logging.config
import os
import sys
from pathlib import Path

import llm

# Modules whose register(subparsers) adds a command group.
COMMAND_MODULES = ("llm.tokenizer.cli", "llm.embeddings.cli", "llm.bench", "llm.train.cli",
                   "llm.data.cli", "llm.generate_cli")

log = logging.getLogger("llm")


def default_log_file() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "llm-from-scratch" / "llm.log"


def configure_logging(level: str, log_file: Path) -> None:
    """Load the packaged logging.conf, sending INFO+ to stderr and DEBUG+ to log_file."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    logging.config.fileConfig(
        Path(__file__).with_name("logging.conf"),
        defaults={"console_level": level, "log_file": str(log_file)},
        disable_existing_loggers=False,
    )


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
    parser.add_argument("--version", action="version", version=f"llm-from-scratch {llm.__version__}")
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="console logging level (default: INFO)")
    parser.add_argument("--log-file", type=Path, default=None,
                        help=f"debug log file (default: {default_log_file()})")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    info = commands.add_parser("info", help="show build facts: compiler, flags, SIMD level, threads")
    info.set_defaults(func=cmd_info)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(commands)
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
    except (ValueError, OSError) as error:
        log.debug("command failed", exc_info=True)
        print(f"llm: error: {error}", file=sys.stderr)
        return 1
