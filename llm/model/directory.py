"""The model directory: what `GPT.save` writes and `GPT.load` reads, and what training (a run's
model/ and checkpoint/) and generation share.

    config.json         {"format_version": 1, <GPTConfig fields>}
    model.safetensors   every parameter, float32, GPT-2's tensor names (h.0.attn.c_attn.weight)
    tokenizer.json      the tokenizer the model was trained with (optional for the model alone)

This module holds the file names, the version and the readers and writers; it knows the
config and the tensors, not the GPT class (which calls it), so nothing here imports the model.
"""
import json
import os
from pathlib import Path

import numpy as np

from llm.model import safetensors
from llm.model.config import GPTConfig
from llm.tokenizer import Tokenizer
from llm.util.json_file import read_json

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
FORMAT_VERSION = 1
DEFAULT_LAYER_NORM_EPS = GPTConfig.layer_norm_eps


def save(directory: str | os.PathLike, config: GPTConfig, tensors: dict[str, np.ndarray],
         tokenizer: Tokenizer | None = None) -> None:
    """Write config.json, model.safetensors and, when given, tokenizer.json into directory
    (created if needed)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    document = {"format_version": FORMAT_VERSION, **config.to_dict()}
    # written only when not GPT-2's: a model trained here keeps a config.json that versions
    # without the field (before layer_norm_eps existed) still read
    if document["layer_norm_eps"] == DEFAULT_LAYER_NORM_EPS:
        del document["layer_norm_eps"]
    (directory / CONFIG_FILE).write_text(json.dumps(document, indent=2) + "\n")
    # "format": "pt" is what Hugging Face loaders require of a GPT-2 checkpoint's metadata
    safetensors.save_file(directory / WEIGHTS_FILE, tensors,
                          metadata={"format": "pt", "producer": "llm-from-scratch"})
    if tokenizer is not None:
        tokenizer.save(directory / TOKENIZER_FILE)


def read_config_json(directory: str | os.PathLike,
                     expected: str = "expected config.json and model.safetensors"
                     ) -> tuple[Path, dict]:
    """(path, settings) of directory's config.json, ours or Hugging Face's: FileNotFoundError
    saying what a model directory holds (expected) when it is missing, ValueError when it is
    not a JSON object."""
    config_path = Path(directory) / CONFIG_FILE
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path} not found: not a model directory ({expected})")
    values = read_json(config_path)
    if not isinstance(values, dict):
        raise ValueError(f"{config_path}: not a model config (a JSON object of settings)")
    return config_path, values


def read_config(directory: str | os.PathLike) -> GPTConfig:
    """The GPTConfig of the model saved in directory."""
    config_path, values = read_config_json(directory)
    version = values.pop("format_version", None)
    if version != FORMAT_VERSION:
        raise ValueError(f"{config_path}: format_version {version!r} is not "
                         f"{FORMAT_VERSION}; this file was written by another program")
    try:
        return GPTConfig.from_dict(values)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{config_path}: {error}") from None


def read_weights(directory: str | os.PathLike, params) -> None:
    """Fill params (a TensorBuffer laid out for the directory's config) from its
    model.safetensors, tensor by tensor into params' views (the file is never in memory as a
    whole); every tensor must be there with its shape, and no other."""
    path = Path(directory) / WEIGHTS_FILE
    file = safetensors.SafetensorsFile(path)
    missing = [name for name in params if name not in file.tensors]
    unexpected = [name for name in file.tensors if name not in params.views]
    if missing or unexpected:
        raise ValueError(f"{path} does not match config.json: missing {missing}, "
                         f"unexpected {unexpected}")
    safetensors.read_weights(params.views, {name: (file, name) for name in params})


def read_tokenizer(directory: str | os.PathLike) -> Tokenizer | None:
    """The tokenizer saved beside the model, None when the directory has none."""
    path = Path(directory) / TOKENIZER_FILE
    return Tokenizer.load(path) if path.is_file() else None


def require_tokenizer(directory: str | os.PathLike) -> Tokenizer:
    """The tokenizer saved beside the model; FileNotFoundError that says so when missing."""
    if not Path(directory).is_dir():
        raise FileNotFoundError(f"{directory}: no such model directory")
    tokenizer = read_tokenizer(directory)
    if tokenizer is None:
        raise FileNotFoundError(f"{Path(directory) / TOKENIZER_FILE} not found: the model "
                                "directory has no tokenizer (a run's model/ and checkpoint/ "
                                "have one)")
    return tokenizer
