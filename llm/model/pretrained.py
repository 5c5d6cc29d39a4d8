"""Hugging Face GPT-2 model directories: read one into our parameter buffer, write one that
`transformers` loads as a GPT2LMHeadModel.

    config.json                  {"model_type": "gpt2", "n_embd": 768, "n_layer": 12, ...}
    model.safetensors            transformer.wte.weight, transformer.h.0.ln_1.weight, ...,
                                 lm_head.weight (when not tied to wte)
    or model-00001-of-0000N.safetensors ... and model.safetensors.index.json
                                 {"metadata": {...}, "weight_map": {tensor name: shard file}}

GPT-2's tensors are ours under the prefix "transformer." (OpenAI's upload and files saved from
a bare GPT2Model have none): the Conv1D weights are (in, out) like our Linear's, lm_head.weight
(V, C) like our transposed head, so nothing is transposed; each tensor is read straight into
its view of the model's buffer (safetensors.SafetensorsFile). This module translates configs
and names and reads the shards; it knows the config and the tensors, not the GPT class (which
calls it), as llm/model/directory.py does for our own format.
"""
import json
import os
import re
from pathlib import Path

import numpy as np

from llm.model import safetensors
from llm.model.config import GPTConfig
from llm.model.directory import CONFIG_FILE, read_config_json
from llm.util.json_file import read_json

WEIGHTS_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
PREFIX = "transformer."
LM_HEAD = "lm_head.weight"
# GPT-2's activation_function values -> ours ("gelu_new" and "gelu_pytorch_tanh" are both the
# tanh approximation, ours; plain "gelu" is the exact erf one, which we do not implement)
ACTIVATIONS = {"gelu_new": "gelu", "gelu_pytorch_tanh": "gelu", "relu": "relu"}
# option -> (the value our model implements, what another value would do)
FIXED_OPTIONS = {
    "scale_attn_weights": (True, "attention scores divided by sqrt(head size)"),
    "scale_attn_by_inverse_layer_idx": (False, "attention scores divided by the layer number"),
    "reorder_and_upcast_attn": (False, "attention computed in a different order and precision"),
    "add_cross_attention": (False, "cross-attention layers for an encoder-decoder"),
}
# the causal mask older transformers versions saved with the weights (a constant, no parameter)
MASK_BUFFER = re.compile(r"(transformer\.)?h\.\d+\.attn\.(bias|masked_bias)")
# weight files of other frameworks: what to do with each
OTHER_FORMATS = {
    "pytorch_model.bin": "PyTorch pickle",
    "pytorch_model.bin.index.json": "sharded PyTorch pickle",
    "tf_model.h5": "TensorFlow",
    "flax_model.msgpack": "Flax",
}
CONVERT = ("convert it with transformers: AutoModelForCausalLM.from_pretrained(path)"
           ".save_pretrained(path, safe_serialization=True) writes model.safetensors")


def is_pretrained_directory(directory: str | os.PathLike) -> bool:
    """True when directory's config.json is a Hugging Face one (a model_type and no
    format_version), False for ours or none."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        return False
    values = read_json(path)
    return isinstance(values, dict) and "model_type" in values and "format_version" not in values


def read_config(directory: str | os.PathLike) -> GPTConfig:
    """Our GPTConfig for the Hugging Face GPT-2 config.json in directory; an option we do not
    implement is a ValueError that names it. Dropout probabilities (resid_pdrop, embd_pdrop,
    attn_pdrop, summary_first_dropout) are read and ignored: our model has no dropout, and
    inference uses none."""
    path, values = read_config_json(directory, "a Hugging Face GPT-2 directory has config.json "
                                               "and model.safetensors")
    model_type = values.get("model_type")
    if model_type != "gpt2":
        raise ValueError(f"{path}: model_type {model_type!r} is not supported; only GPT-2 "
                         "models (model_type 'gpt2') can be imported")
    for option, (ours, meaning) in FIXED_OPTIONS.items():
        if values.get(option, ours) != ours:
            raise ValueError(f"{path}: {option}={values[option]!r} ({meaning}) is not "
                             f"implemented here; only models with {option}={ours} load")
    activation = values.get("activation_function", "gelu_new")
    if activation == "gelu":
        raise ValueError(f"{path}: activation_function 'gelu' (the exact, erf GELU) is not "
                         "implemented here; our GELU is the tanh approximation ('gelu_new'), "
                         "whose outputs differ slightly")
    if activation not in ACTIVATIONS:
        raise ValueError(f"{path}: activation_function {activation!r} is not implemented here; "
                         f"use one of {sorted(ACTIVATIONS)}")
    try:
        return GPTConfig(vocab_size=values.get("vocab_size", 50257),
                         block_size=values.get("n_positions", 1024),
                         n_layer=values.get("n_layer", 12), n_head=values.get("n_head", 12),
                         d_model=values.get("n_embd", 768), d_ff=values.get("n_inner"),
                         activation=ACTIVATIONS[activation],
                         tie_embeddings=values.get("tie_word_embeddings", True),
                         layer_norm_eps=values.get("layer_norm_epsilon", 1e-5))
    except (ValueError, TypeError) as error:
        raise ValueError(f"{path}: {error} (GPT-2's n_embd is our d_model, n_positions our "
                         "block_size, n_inner our d_ff)") from None


def hf_config(config: GPTConfig, eos_token_id: int | None = None) -> dict:
    """The Hugging Face GPT-2 config.json document for config (GPT2Config's keys); a config
    GPT-2 cannot express is a ValueError saying why. eos_token_id: the tokenizer's end-of-text
    id, also GPT-2's beginning of sequence (None when there is none)."""
    if config.norm != "pre":
        raise ValueError(f"norm={config.norm!r}: GPT-2 has pre-LayerNorm blocks only; a "
                         "post-norm model cannot be written as a GPT-2 directory")
    if config.positional != "learned":
        raise ValueError(f"positional={config.positional!r}: GPT-2 has learned positions "
                         "only; a model with sinusoidal positions cannot be written as GPT-2")
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": config.vocab_size,
        "n_positions": config.block_size,
        "n_ctx": config.block_size,
        "n_embd": config.d_model,
        "n_layer": config.n_layer,
        "n_head": config.n_head,
        "n_inner": config.d_ff,
        "activation_function": "gelu_new" if config.activation == "gelu" else "relu",
        "layer_norm_epsilon": config.layer_norm_eps,
        "tie_word_embeddings": config.tie_embeddings,
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
        "summary_first_dropout": 0.0,
        "initializer_range": 0.02,
        "scale_attn_weights": True,
        "scale_attn_by_inverse_layer_idx": False,
        "reorder_and_upcast_attn": False,
        "add_cross_attention": False,
        "use_cache": True,
        "bos_token_id": eos_token_id,
        "eos_token_id": eos_token_id,
        "dtype": "float32",
    }


def save(directory: str | os.PathLike, config: GPTConfig, tensors: dict[str, np.ndarray],
         tokenizer=None) -> None:
    """Write config.json and model.safetensors (float32, GPT2LMHeadModel's tensor names,
    metadata {"format": "pt"}) into directory (created if needed), and the tokenizer's files
    when given (its save_pretrained, with model_max_length the block size; its end-of-text id
    becomes the bos and eos ids). What either cannot write is refused before any file is."""
    eos_token_id = None if tokenizer is None else tokenizer.end_of_text_id
    document = hf_config(config, eos_token_id)
    directory = Path(directory)
    if tokenizer is not None:   # first: a tokenizer HF cannot read fails here
        tokenizer.save_pretrained(directory, model_max_length=config.block_size)
    directory.mkdir(parents=True, exist_ok=True)
    named = {name if name == LM_HEAD else PREFIX + name: tensor
             for name, tensor in tensors.items()}
    safetensors.save_file(directory / WEIGHTS_FILE, named, metadata={"format": "pt"})
    (directory / CONFIG_FILE).write_text(json.dumps(document, indent=2) + "\n")


def weight_sources(directory: str | os.PathLike) -> dict[str, tuple]:
    """Tensor name as in the files -> (SafetensorsFile, name), from model.safetensors or the
    shards model.safetensors.index.json lists; only the headers are read."""
    directory = Path(directory)
    single, index_path = directory / WEIGHTS_FILE, directory / INDEX_FILE
    if single.is_file():
        file = safetensors.SafetensorsFile(single)
        return {name: (file, name) for name in file.tensors}
    if not index_path.is_file():
        for name, kind in OTHER_FORMATS.items():
            if (directory / name).is_file():
                raise ValueError(f"{directory} holds {kind} weights ({name}), which we do not "
                                 f"read; {CONVERT}")
        raise FileNotFoundError(f"{directory}: neither {WEIGHTS_FILE} nor {INDEX_FILE} found "
                                "(not a model directory?)")
    index = read_json(index_path)
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not all(
            isinstance(shard, str) and shard == Path(shard).name and shard
            for shard in weight_map.values()):
        raise ValueError(f"{index_path}: expected {{\"weight_map\": {{tensor name: shard file "
                         "name in this directory}}}")
    shards = {}
    for shard in sorted(set(weight_map.values())):
        if not (directory / shard).is_file():
            raise FileNotFoundError(f"{directory / shard} not found: {INDEX_FILE} lists it as "
                                    "a shard (an incomplete download?)")
        shards[shard] = safetensors.SafetensorsFile(directory / shard)
    sources = {}
    for name, shard in weight_map.items():
        if name not in shards[shard].tensors:
            raise ValueError(f"{directory / shard} has no tensor {name!r}, which {INDEX_FILE} "
                             "places there")
        sources[name] = (shards[shard], name)
    return sources


def read_weights(directory: str | os.PathLike, params, tied: bool) -> None:
    """Fill params (a TensorBuffer laid out for read_config(directory)) from the directory's
    safetensors, tensor by tensor; names with or without the "transformer." prefix, the old
    attention mask buffers ignored. Every parameter must be there with its shape, and no
    other tensor; a tied model's file may hold lm_head.weight only as a copy of wte.weight."""
    sources = {}
    for name, source in weight_sources(directory).items():
        if MASK_BUFFER.fullmatch(name):
            continue
        ours = name.removeprefix(PREFIX)
        if ours in sources:
            raise ValueError(f"{directory}: tensor {ours!r} is stored twice, with and without "
                             f"the {PREFIX!r} prefix")
        sources[ours] = source
    head = sources.pop(LM_HEAD, None) if tied else None
    missing = [name for name in params if name not in sources]
    unexpected = [name for name in sources if name not in params.views]
    if missing or unexpected:
        raise ValueError(f"{directory}: the weights do not match config.json: missing "
                         f"{missing}, unexpected {unexpected}")
    safetensors.read_weights(params.views, sources)
    if head is not None:
        check_tied_head(head, params["wte.weight"])


def check_tied_head(source: tuple, wte: np.ndarray) -> None:
    """A tied model's stored lm_head.weight must equal wte (read a chunk at a time)."""
    file, name = source
    if file.tensors[name].shape != wte.shape:
        raise ValueError(f"{file.path}: {name} has shape {file.tensors[name].shape}, not "
                         f"wte's {wte.shape}, but config.json ties them (tie_word_embeddings)")
    flat = wte.reshape(-1)
    for start, values in file.chunks(name):
        if not np.array_equal(values, flat[start:start + values.size]):
            raise ValueError(f"{file.path}: {name} differs from wte.weight but config.json "
                             "ties them; set \"tie_word_embeddings\": false to load it as a "
                             "head of its own")
