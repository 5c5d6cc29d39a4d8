"""`llm demo`: train a tokenizer and a small GPT in a few minutes on a corpus every Python has,
then print samples.

The corpus is CPython's documentation topics (`pydoc_data.topics`, the text `help("if")` shows:
79 topics, about 0.46 MB of English about Python; see text-data-info/pydoc-topics.md), written
into the run directory as one file per topic, so topics are documents separated by the
end-of-text token and a sample can start where a topic starts.
"""
import argparse
import os
import re
import shutil
import time
from dataclasses import replace
from pathlib import Path

from llm.cli.train import summary, use_run_log
from llm.generate import sample
from llm.model import GPT, SamplingConfig
from llm.tokenizer import Tokenizer
from llm.train import checkpoint, run
from llm.train.trainer import CHECKPOINT_DIR, MODEL_DIR, TrainConfig, Trainer

CORPUS_DIR = "pydoc-topics"
VOCAB_SIZE = 512
MODEL_CONFIG = {"n_layer": 4, "n_head": 4, "d_model": 128, "block_size": 128}
TRAIN_CONFIG = TrainConfig(batch_size=16, max_iters=1200, lr=2e-3, eval_interval=200,
                           eval_batches=50, seed=1337)
SAMPLE_TOKENS = 160
SAMPLING = SamplingConfig(temperature=0.8, top_k=40)


def write_pydoc_topics(directory: Path) -> list[Path]:
    """Write each pydoc_data topic to directory/<topic>.txt; returns the files in topic order."""
    from pydoc_data.topics import topics

    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, (name, text) in enumerate(topics.items()):
        path = directory / f"{number:03d}-{re.sub(r'[^A-Za-z0-9_-]', '_', name)}.txt"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def corpus_paths(run_dir: Path, data: list[str] | None) -> list[Path]:
    return [Path(p) for p in data] if data else [run_dir / CORPUS_DIR]


def describe_corpus(data: list[str] | None) -> str:
    if data:
        return f"training on {', '.join(data)}"
    return "training on CPython's documentation topics (pydoc_data.topics, ~0.46 MB)"


def prepare(run_dir: str | os.PathLike, data: list[str] | None = None, char: bool = False,
            vocab_size: int = VOCAB_SIZE, max_iters: int = TRAIN_CONFIG.max_iters,
            seed: int = TRAIN_CONFIG.seed) -> Trainer:
    """A Trainer for the demo run in run_dir (a previous demo there is replaced): the corpus,
    a byte-level BPE tokenizer of vocab_size tokens trained on it (or a character-level one)
    and a 4-layer GPT of 128 channels with a context of 128 tokens."""
    run_dir = Path(run_dir)
    for stale in (run_dir / CHECKPOINT_DIR, run_dir / f"{CHECKPOINT_DIR}.old"):
        if stale.exists():
            if not is_previous_demo(stale, run_dir, data):
                raise ValueError(f"{run_dir} holds a run that is not a demo on this corpus "
                                 f"({stale}); choose another --out, or remove it first")
            shutil.rmtree(stale)
    paths = corpus_paths(run_dir, data)
    if not data:
        write_pydoc_topics(paths[0])
    tokenizer = "char" if char else Tokenizer.train(paths, vocab_size)
    config = TrainConfig(**{**TRAIN_CONFIG.to_dict(), "max_iters": max_iters, "seed": seed})
    return run.start(paths, run_dir, MODEL_CONFIG, config, tokenizer)


def is_previous_demo(checkpoint_dir: Path, run_dir: Path, data: list[str] | None) -> bool:
    """Whether checkpoint_dir holds a demo's checkpoint on the corpus this demo trains on (the
    built-in topics in run_dir, or the files of data), which the new demo may replace."""
    try:
        recorded = checkpoint.read_state(checkpoint_dir)["run"]["data"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if data:
        return recorded == run.data_paths(data)
    topics = (run_dir / CORPUS_DIR).resolve()
    return bool(recorded) and all(Path(path).parent == topics for path in recorded)


def samples(model: GPT, tokenizer: Tokenizer, count: int, seed: int) -> list[str]:
    """count texts generated from the start of a document (the end-of-text token, or a newline
    for a tokenizer without one)."""
    return [sample(model, tokenizer, "", SAMPLE_TOKENS, replace(SAMPLING, seed=seed + number))
            for number in range(count)]


def register(subparsers) -> None:
    demo_parser = subparsers.add_parser(
        "demo", help="train a tokenizer and a small model in a few minutes, then generate",
        description="Train a byte-level BPE tokenizer and a small GPT on a corpus every Python "
                    "installation has (CPython's documentation topics, pydoc_data.topics) or "
                    "on --data, then print generated samples.")
    demo_parser.add_argument("--data", nargs="+", metavar="PATH",
                             help="text files to use instead of the built-in corpus")
    demo_parser.add_argument("--out", type=Path, default=Path("runs/demo"), metavar="DIR",
                             help="run directory (default runs/demo; a previous demo on the "
                                  "same corpus there is replaced, any other run refused)")
    demo_parser.add_argument("--char", action="store_true",
                             help="a character-level tokenizer instead of BPE")
    demo_parser.add_argument("--vocab-size", type=int, default=VOCAB_SIZE,
                             help=f"BPE vocabulary size (default {VOCAB_SIZE})")
    demo_parser.add_argument("--max-iters", type=int, default=TRAIN_CONFIG.max_iters,
                             help=f"training updates (default {TRAIN_CONFIG.max_iters})")
    demo_parser.add_argument("--seed", type=int, default=TRAIN_CONFIG.seed)
    demo_parser.add_argument("--samples", type=int, default=2, help="samples to print")
    demo_parser.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    use_run_log(args, args.out)
    started = time.perf_counter()
    print(f"llm demo: {describe_corpus(args.data)}")
    trainer = prepare(args.out, args.data, args.char, args.vocab_size, args.max_iters,
                           args.seed)
    result = trainer.run()
    print(summary(result))
    for number, text in enumerate(samples(trainer.model, trainer.tokenizer, args.samples,
                                               args.seed), start=1):
        print(f"\n--- sample {number} ---\n{text}")
    model_dir = args.out / MODEL_DIR
    data = " ".join(map(str, corpus_paths(args.out, args.data)))
    print(f"\n--- done in {time.perf_counter() - started:.0f} s; the model is in {model_dir} ---\n"
          f"evaluate it:    llm eval --model {model_dir} --data {data}\n"
          f"sample from it: llm generate --model {model_dir} --prompt 'The ' "
          "--max-new-tokens 300\n"
          f"train longer:   llm train --out {args.out} --resume --max-iters {2 * args.max_iters}")
    return 0
