"""Checkpoints: everything needed to continue a run exactly, written atomically.

A checkpoint is a directory:
    config.json, model.safetensors, tokenizer.json   the model directory (GPT.save)
    optimizer.safetensors                            AdamW's m and v, and its step count
    trainer_state.json                               step, the loader's RNG state, the run's
                                                     settings, best val loss, the number of
                                                     data-parallel ranks (see trainer.py)

Atomic: written by llm.util.atomic.replace_directory (a temporary sibling, fsynced, swapped with
the old checkpoint in one rename). A crash at any point leaves either the old or the new
checkpoint whole: `resolve` falls back to `<name>.old` should the fallback swap (two renames,
where the one-step exchange is not available) have been interrupted.
"""
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from llm.model import GPT
from llm.model import directory as model_directory
from llm.tokenizer import Tokenizer
from llm.util.atomic import replace_directory, resolve_directory
from llm.util.json_file import read_json

log = logging.getLogger(__name__)

OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "trainer_state.json"
STATE_FORMAT = "llm-from-scratch/trainer-state"
STATE_VERSION = 1


def resolve(directory: str | os.PathLike) -> Path:
    """The checkpoint directory to read: directory, or its `.old` copy when a crash interrupted
    a save (see replace_directory). FileNotFoundError when neither holds a checkpoint."""
    try:
        return resolve_directory(directory, lambda path: (path / STATE_FILE).is_file())
    except FileNotFoundError:
        raise FileNotFoundError(f"no checkpoint in {directory} (expected {STATE_FILE}); "
                                "start the run without --resume") from None


def save(directory: str | os.PathLike, model: GPT, optimizer, state: dict,
         tokenizer: Tokenizer | None = None) -> None:
    """Write a checkpoint of model, optimizer (an AdamW or the OptimizerState of all ranks:
    anything whose save(path) writes optimizer.safetensors) and the trainer's state dict
    atomically."""
    document = {"format": STATE_FORMAT, "version": STATE_VERSION, **state}

    def write(temporary: Path) -> None:
        model.save(temporary, tokenizer)
        optimizer.save(temporary / OPTIMIZER_FILE)
        (temporary / STATE_FILE).write_text(json.dumps(document, indent=1) + "\n")

    replace_directory(directory, write)


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
    return Checkpoint(directory, GPT.load(directory), model_directory.read_tokenizer(directory),
                      read_state(directory))


def read_state(directory: Path) -> dict:
    """The trainer's state dict saved in the checkpoint directory (ValueError if damaged)."""
    state_path = directory / STATE_FILE
    try:
        state = read_json(state_path)
    except ValueError as error:
        raise ValueError(f"{error}; the checkpoint is damaged") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise ValueError(f"{state_path}: not an llm-from-scratch trainer state")
    if state.get("version") != STATE_VERSION:
        raise ValueError(f"{state_path}: version {state.get('version')!r} is not "
                         f"{STATE_VERSION}; it was written by another version of llm-from-scratch")
    state.setdefault("ranks", 1)   # written before data-parallel training: by one process
    return state
