"""Export a byte-mode tokenizer to the formats other tools read, with its ids.

hf        a Hugging Face `tokenizer.json`: a BPE model over GPT-2's byte-to-unicode alphabet with
          our ids and merges, the ByteLevel pre-tokenizer (GPT-2's pattern, no prefix space) and
          decoder, and our special tokens as added tokens. `tokenizers.Tokenizer.from_file` then
          gives our ids (HF always recognises added tokens, like encode(allowed_special="all")).
          Merges are written in HF's "left right" form, which every tokenizers version reads; it
          is unambiguous here because the byte-level alphabet has no space.
tiktoken  the `.tiktoken` ranks file (base64 of the token bytes, a space, the rank = our id, one
          token a line) that `tiktoken.load.load_tiktoken_bpe` reads; build the Encoding with
          `pat_str=llm.tokenizer.pretokenize.GPT2_PATTERN` and our special tokens.
save_pretrained  a directory `transformers.AutoTokenizer.from_pretrained` loads as it is:
          tokenizer.json (hf above), GPT-2's vocab.json + merges.txt, tokenizer_config.json
          (GPT2Tokenizer; bos, eos and unk are <|endoftext|> when the tokenizer has it) and
          special_tokens_map.json. Tokenizer.from_pretrained reads it back.

Every form carries the tokenizer's own ids, whatever their order (see llm.tokenizer.tokenizer).
Naive-mode tokenizers have no byte-level form and cannot be exported.
"""
from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from llm.tokenizer.byte_level import shown
from llm.tokenizer.pretrained import MERGES_TXT, TOKENIZER_CONFIG, TOKENIZER_JSON, VOCAB_JSON
from llm.tokenizer.schema import END_OF_TEXT_TOKENS
from llm.util.atomic import atomic_write

if TYPE_CHECKING:   # the Tokenizer calls save_pretrained here, so this module cannot import it
    from llm.tokenizer.tokenizer import Tokenizer

FORMATS = ("hf", "tiktoken")
SPECIAL_TOKENS_MAP = "special_tokens_map.json"


def check_byte_mode(tokenizer: Tokenizer) -> None:
    if tokenizer.mode != "byte":
        raise ValueError(f"only byte-mode tokenizers can be exported; this one is "
                         f"{tokenizer.mode!r} (its tokens are characters, not bytes)")


def shown_vocab(tokenizer: Tokenizer) -> dict[str, int]:
    """Every token -> its id, as GPT-2's vocab.json and HF's model vocab hold them: the others in
    the byte-level alphabet, then the special tokens as their text (HF takes an added token's id
    from the model vocab when it is there, and otherwise numbers it after the vocab, whatever
    the file says)."""
    specials = tokenizer.special_tokens
    special_ids = set(specials.values())
    vocab = {shown(token): token_id for token_id, token in enumerate(tokenizer.vocab)
             if token_id not in special_ids}
    for token, token_id in specials.items():
        if token in vocab:
            raise ValueError(f"special token {token!r} is spelled like token {vocab[token]} in "
                             "the byte-level alphabet; HF's vocab cannot hold both")
        vocab[token] = token_id
    return vocab


def shown_merges(tokenizer: Tokenizer) -> list[str]:
    """The merges in rank order as "left right" in the byte-level alphabet."""
    vocab = tokenizer.vocab
    return [f"{shown(vocab[left])} {shown(vocab[right])}"
            for left, right in tokenizer.merges.tolist()]


def hf_tokenizer_json(tokenizer: Tokenizer) -> dict:
    """The Hugging Face tokenizer.json document of a byte-mode tokenizer."""
    check_byte_mode(tokenizer)
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                  "use_regex": True}
    specials = sorted(tokenizer.special_tokens.items(), key=lambda item: item[1])
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": token_id, "content": token, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}
                         for token, token_id in specials],
        "normalizer": None,
        "pre_tokenizer": byte_level,
        "post_processor": None,
        "decoder": byte_level,
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
            "ignore_merges": False,
            "vocab": shown_vocab(tokenizer),
            "merges": shown_merges(tokenizer),
        },
    }


def tiktoken_ranks(tokenizer: Tokenizer) -> str:
    """The .tiktoken ranks file text of a byte-mode tokenizer (special tokens not included)."""
    check_byte_mode(tokenizer)
    return "".join(f"{base64.b64encode(token).decode('ascii')} {rank}\n"
                   for token, rank in tokenizer.mergeable_ranks().items())


def export(tokenizer: Tokenizer, export_format: str, path: str | os.PathLike) -> None:
    """Write tokenizer in export_format ("hf" or "tiktoken") to path, atomically."""
    if export_format == "hf":
        text = json.dumps(hf_tokenizer_json(tokenizer), ensure_ascii=False, indent=1)
    elif export_format == "tiktoken":
        text = tiktoken_ranks(tokenizer)
    else:
        raise ValueError(f"format={export_format!r}: must be one of {FORMATS}")
    with atomic_write(path, "w", encoding="utf-8") as file:
        file.write(text)


def transformers_config(tokenizer: Tokenizer, model_max_length: int | None) -> tuple[dict, dict]:
    """(tokenizer_config.json, special_tokens_map.json) documents for transformers."""
    specials = sorted(tokenizer.special_tokens.items(), key=lambda item: item[1])
    named = {}
    if END_OF_TEXT_TOKENS[0] in tokenizer.special_tokens:
        named = {name: END_OF_TEXT_TOKENS[0] for name in ("bos_token", "eos_token", "unk_token")}
    others = [token for token, _ in specials if token != END_OF_TEXT_TOKENS[0]]
    special_map = {**named, **({"additional_special_tokens": others} if others else {})}
    config = {
        "tokenizer_class": "GPT2Tokenizer",
        "add_prefix_space": False,
        "add_bos_token": False,
        "clean_up_tokenization_spaces": False,   # decode must give back the text exactly
        "errors": "replace",
        "added_tokens_decoder": {str(token_id): {"content": token, "lstrip": False,
                                                 "normalized": False, "rstrip": False,
                                                 "single_word": False, "special": True}
                                 for token, token_id in specials},
        **special_map,
    }
    if model_max_length is not None:
        config["model_max_length"] = model_max_length
    return config, special_map


def save_pretrained(tokenizer: Tokenizer, directory: str | os.PathLike,
                    model_max_length: int | None = None) -> None:
    """Write the transformers files of a byte-mode tokenizer into directory (made if missing),
    each file atomically (see the module docstring)."""
    check_byte_mode(tokenizer)
    if model_max_length is not None and (isinstance(model_max_length, bool) or not isinstance(
            model_max_length, int) or model_max_length < 1):
        raise ValueError(f"model_max_length={model_max_length!r}: must be a positive integer "
                         "(the context length in tokens) or None")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config, special_map = transformers_config(tokenizer, model_max_length)
    documents = {TOKENIZER_JSON: hf_tokenizer_json(tokenizer), VOCAB_JSON: shown_vocab(tokenizer),
                 TOKENIZER_CONFIG: config, SPECIAL_TOKENS_MAP: special_map}
    for name, document in documents.items():
        with atomic_write(directory / name, "w", encoding="utf-8") as file:
            json.dump(document, file, ensure_ascii=False, indent=1 if name == TOKENIZER_JSON else 2)
            file.write("\n")
    with atomic_write(directory / MERGES_TXT, "w", encoding="utf-8") as file:
        file.write("#version: 0.2\n" + "".join(line + "\n" for line in shown_merges(tokenizer)))
