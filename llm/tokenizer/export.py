"""Export a byte-mode tokenizer to the formats other tools read.

hf        a Hugging Face `tokenizer.json`: a BPE model over GPT-2's byte-to-unicode alphabet with
          our ids and merges, the ByteLevel pre-tokenizer (GPT-2's pattern, no prefix space) and
          decoder, and our special tokens as added tokens. `tokenizers.Tokenizer.from_file` then
          gives our ids (HF always recognises added tokens, like encode(allowed_special="all")).
          Merges are written in HF's "left right" form, which every tokenizers version reads; it
          is unambiguous here because the byte-level alphabet has no space.
tiktoken  the `.tiktoken` ranks file (base64 of the token bytes, a space, the rank = our id, one
          token a line) that `tiktoken.load.load_tiktoken_bpe` reads; build the Encoding with
          `pat_str=llm.tokenizer.pretokenize.GPT2_PATTERN` and our special tokens.

Naive-mode tokenizers have no byte-level form and cannot be exported.
"""
import base64
import json
import os

from llm.tokenizer.tokenizer import Tokenizer
from llm.util.atomic import atomic_write

FORMATS = ("hf", "tiktoken")


def byte_to_unicode() -> dict[int, str]:
    """GPT-2's map from each byte to a printable character (printable Latin-1 bytes map to
    themselves, the rest to U+0100 onwards), used by HF's ByteLevel model."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    mapping = {byte: chr(byte) for byte in printable}
    others = (byte for byte in range(256) if byte not in mapping)
    mapping.update({byte: chr(256 + i) for i, byte in enumerate(others)})
    return mapping


def check_byte_mode(tokenizer: Tokenizer) -> None:
    if tokenizer.mode != "byte":
        raise ValueError(f"only byte-mode tokenizers can be exported; this one is "
                         f"{tokenizer.mode!r} (its tokens are characters, not bytes)")


def hf_tokenizer_json(tokenizer: Tokenizer) -> dict:
    """The Hugging Face tokenizer.json document of a byte-mode tokenizer."""
    check_byte_mode(tokenizer)
    table = byte_to_unicode()
    shown = ["".join(table[byte] for byte in token) for token in tokenizer.vocab]
    n_mergeable = tokenizer.n_base + len(tokenizer.merges)
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                  "use_regex": True}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": token_id, "content": token, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}
                         for token, token_id in tokenizer.special_tokens.items()],
        "normalizer": None,
        "pre_tokenizer": byte_level,
        "post_processor": None,
        "decoder": byte_level,
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
            "ignore_merges": False,
            "vocab": {shown[i]: i for i in range(n_mergeable)},
            "merges": [f"{shown[left]} {shown[right]}" for left, right in tokenizer.merges.tolist()],
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
