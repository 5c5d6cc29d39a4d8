"""Checkpoints: everything needed to continue a run exactly, written atomically.

A checkpoint is a directory:
    config.json, model.safetensors, tokenizer.json   the model directory (GPT.save)
    optimizer.safetensors                            AdamW's m and v, and its step count
    trainer_state.json                               step, the loader's RNG state, the run's
                                                     settings, best val loss (see trainer.py)

Atomic: the files are written into a temporary directory beside the target and fsynced, then the
old directory is renamed aside (`<name>.old`), the new one renamed into place, and the old one
deleted. A crash at any point leaves either the old or the new checkpoint whole: `resolve`
falls back to `<name>.old` when a crash came between the two renames.
"""
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llm.atomic import fsync_path
from llm.model import GPT
from llm.model.gpt import TOKENIZER_FILE
from llm.tokenizer import Tokenizer

log = logging.getLogger(__name__)

OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "trainer_state.json"
STATE_FORMAT = "llm-from-scratch/trainer-state"
STATE_VERSION = 1


def write_directory(target: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """Replace directory target by the files write(temporary_directory) makes, atomically."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f"{target.name}.*.tmp"):   # left by a crash
        shutil.rmtree(stale, ignore_errors=True)
    temporary = Path(tempfile.mkdtemp(prefix=f"{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        os.chmod(temporary, 0o777 & ~current_umask())   # mkdtemp makes it private (0700)
        write(temporary)
        for path in temporary.iterdir():
            fsync_path(path)
        fsync_path(temporary)
        previous = target.with_name(target.name + ".old")
        if target.exists():
            shutil.rmtree(previous, ignore_errors=True)
            os.replace(target, previous)
        # (if only previous exists, a crash came between the renames: it is the good copy)
        os.replace(temporary, target)
        fsync_path(target.parent)
        shutil.rmtree(previous, ignore_errors=True)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def resolve(directory: str | os.PathLike) -> Path:
    """The checkpoint directory to read: directory, or its `.old` copy when a crash interrupted
    the swap. FileNotFoundError when neither exists."""
    directory = Path(directory)
    if (directory / STATE_FILE).is_file():
        return directory
    previous = directory.with_name(directory.name + ".old")
    if (previous / STATE_FILE).is_file():
        log.warning("%s is missing or incomplete; using %s (a save was interrupted)",
                    directory, previous)
        return previous
    raise FileNotFoundError(f"no checkpoint in {directory} (expected {STATE_FILE}); "
                            "start the run without --resume")


def save(directory: str | os.PathLike, model: GPT, optimizer, state: dict,
         tokenizer: Tokenizer | None = None) -> None:
    """Write a checkpoint of model, optimizer (AdamW) and the trainer's state dict atomically."""
    document = {"format": STATE_FORMAT, "version": STATE_VERSION, **state}

    def write(temporary: Path) -> None:
        model.save(temporary, tokenizer)
        optimizer.save(temporary / OPTIMIZER_FILE)
        (temporary / STATE_FILE).write_text(json.dumps(document, indent=1) + "\n")

    write_directory(directory, write)


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model, its tokenizer (or None), the trainer's state dict, and
    the directory (for the optimizer state: restore_optimizer)."""

    directory: Path
    model: GPT
    tokenizer: Tokenizer | None
    state: dict

    def restore_optimizer(self, optimizer) -> None:
        optimizer.load(self.directory / OPTIMIZER_FILE)


def load(directory: str | os.PathLike) -> Checkpoint:
    """Read the checkpoint in directory (see resolve)."""
    directory = resolve(directory)
    state_path = directory / STATE_FILE
    try:
        state = json.loads(state_path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{state_path}: not valid JSON ({error}); the checkpoint is damaged") \
            from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise ValueError(f"{state_path}: not an llm-from-scratch trainer state")
    if state.get("version") != STATE_VERSION:
        raise ValueError(f"{state_path}: version {state.get('version')!r} is not "
                         f"{STATE_VERSION}; it was written by another version of llm-from-scratch")
    tokenizer_path = directory / TOKENIZER_FILE
    tokenizer = Tokenizer.load(tokenizer_path) if tokenizer_path.is_file() else None
    return Checkpoint(directory, GPT.load(directory), tokenizer, state)
