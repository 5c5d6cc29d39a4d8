"""`llm demo`: train a tokenizer and a small GPT in a few minutes on a corpus every Python has.

The corpus is CPython's documentation topics (`pydoc_data.topics`, the text `help("if")` shows:
79 topics, about 0.46 MB of English about Python; see text-data-info/pydoc-topics.md), written
into the run directory as one file per topic, so topics are documents separated by the
end-of-text token and a sample can start where a topic starts.
"""
import os
import re
import shutil
from pathlib import Path

from llm.generate import sample
from llm.model import GPT
from llm.tokenizer import Tokenizer
from llm.train import checkpoint, run
from llm.train.trainer import CHECKPOINT_DIR, TrainConfig, Trainer

CORPUS_DIR = "pydoc-topics"
VOCAB_SIZE = 512
MODEL_CONFIG = {"n_layer": 4, "n_head": 4, "d_model": 128, "block_size": 128}
TRAIN_CONFIG = TrainConfig(batch_size=16, max_iters=1200, lr=2e-3, warmup_iters=100,
                           eval_interval=200, eval_batches=50, seed=1337)
SAMPLE_TOKENS = 160
SAMPLE_TEMPERATURE = 0.8
SAMPLE_TOP_K = 40


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
            if not (stale / checkpoint.STATE_FILE).is_file():
                raise ValueError(f"{stale} is not a checkpoint of a previous demo; choose "
                                 "another --out")
            shutil.rmtree(stale)
    paths = corpus_paths(run_dir, data)
    if not data:
        write_pydoc_topics(paths[0])
    tokenizer = "char" if char else Tokenizer.train(paths, vocab_size)
    config = TrainConfig(**{**TRAIN_CONFIG.to_dict(), "max_iters": max_iters, "seed": seed,
                            "warmup_iters": min(TRAIN_CONFIG.warmup_iters, max_iters // 10)})
    return run.start(paths, run_dir, MODEL_CONFIG, config, tokenizer)


def samples(model: GPT, tokenizer: Tokenizer, count: int, seed: int) -> list[str]:
    """count texts generated from the start of a document (the end-of-text token, or a newline
    for a tokenizer without one)."""
    return [sample(model, tokenizer, "", SAMPLE_TOKENS, SAMPLE_TEMPERATURE, SAMPLE_TOP_K,
                   seed + number) for number in range(count)]
