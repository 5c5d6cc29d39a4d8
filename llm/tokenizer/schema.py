"""tokenizer.json: our versioned save format, its validation, and atomic writing.

Version 1, one JSON object:

    {
      "format": "llm-from-scratch/tokenizer",
      "version": 1,
      "mode": "byte",                       # or "naive"
      "pre_tokenizer": "gpt2",              # "gpt2" with byte mode, "naive" with naive mode
      "normalizer": null,                   # or {"ascii_fold": true, "lowercase": true} (naive)
      "base": {"kind": "bytes", "size": 256},            # byte mode: ids 0..255 are the bytes
              {"kind": "characters", "alphabet": ["\\t", "\\n", " ", "!", ...]}   # naive mode
      "vocab_size": 4096,
      "merges": [[116, 104], [32, 256], ...],   # merge k joins two earlier ids into id n_base + k
      "special_tokens": {"<|endoftext|>": 4095}   # ids follow the merges, in this order
    }

Version 2 (written only for a tokenizer whose ids are not in that order, e.g. GPT-2's own, whose
id 0 is "!") adds one field and changes what the numbers name. Base symbols, merge results and
special tokens, in the order above, are the token *indexes* 0..vocab_size-1 (merges join indexes,
exactly as version 1 joins ids), and

      "token_order": [188, 189, ...],     # vocab_size ints: the id of index i (a permutation)
      "special_tokens": {"<|endoftext|>": 50256}   # each token's id = token_order[its index]

A tokenizer in the identity order is always written as version 1, byte-identical to what
llm-from-scratch wrote before version 2 existed; an older reader refuses version 2 (it would
misread the ids) and asks for an upgrade.

Every token's bytes follow from base + merges, so the vocabulary itself is not stored. Merges are
id pairs, never space-joined strings (a token may contain a space). Reading checks every field
and names the one that is wrong; a file from a newer version is refused with a request to upgrade.
A file is written to a temporary name beside its destination and renamed into place, so a crash
never leaves a half-written tokenizer.json.
"""
import json
import os
from dataclasses import dataclass

import numpy as np

from llm.tokenizer.normalize import Normalizer
from llm.util.atomic import atomic_write
from llm.util.json_file import read_json

FORMAT = "llm-from-scratch/tokenizer"
VERSION = 2   # the newest version read; version 1 is written whenever it can hold the spec
MODES = ("byte", "naive")
PRE_TOKENIZERS = {"byte": "gpt2", "naive": "naive"}
UNKNOWN = "<unknown>"   # naive mode's token for a character outside its alphabet
# What separates documents, by mode (a hand-made tokenizer may carry either); GPT-2's first.
END_OF_TEXT_TOKENS = ("<|endoftext|>", "<endoftext>")


@dataclass(frozen=True)
class TokenizerSpec:
    """Everything a tokenizer is made of.

    mode: "byte" or "naive".
    normalizer: the naive mode's Normalizer, None in byte mode (which never normalizes).
    alphabet: naive mode's base characters in id order; None in byte mode (the 256 bytes).
    merges: (n_merges, 2) int32; merge k joins indexes merges[k] into index n_base + k.
    special_tokens: in index order; the first has index n_base + n_merges.
    token_order: (vocab_size,) int32, the id of each token index (a permutation of
        range(vocab_size)); None when every id is its index (every tokenizer we train). An
        identity array given here is stored as None, so equal tokenizers have equal specs.
    """

    mode: str
    normalizer: Normalizer | None
    alphabet: tuple[str, ...] | None
    merges: np.ndarray
    special_tokens: tuple[str, ...]
    token_order: np.ndarray | None = None

    def __post_init__(self):
        order = self.token_order
        if order is not None:
            order = np.asarray(order)
            if order.ndim == 1 and np.array_equal(order, np.arange(len(order))):
                order = None
            object.__setattr__(self, "token_order", order)

    @property
    def n_base(self) -> int:
        return 256 if self.alphabet is None else len(self.alphabet)

    @property
    def vocab_size(self) -> int:
        return self.n_base + len(self.merges) + len(self.special_tokens)


def spec_error(field: str, problem: str, source: str) -> ValueError:
    return ValueError(f"{source}: field '{field}' {problem}")


def check_spec(spec: TokenizerSpec, source: str = "tokenizer") -> None:
    """Raise ValueError naming the field if spec is inconsistent."""
    if spec.mode not in MODES:
        raise spec_error("mode", f"is {spec.mode!r}; expected one of {MODES}", source)
    if spec.mode == "byte" and spec.alphabet is not None:
        raise spec_error("base", "must be the 256 bytes in byte mode", source)
    if spec.mode == "byte" and spec.normalizer is not None and not spec.normalizer.is_identity:
        raise spec_error("normalizer", "must be null in byte mode, which round-trips any text "
                         "exactly and so never normalizes", source)
    if spec.mode == "naive":
        if spec.alphabet is None or len(spec.alphabet) == 0:
            raise spec_error("base.alphabet", "must list at least one character in naive mode",
                             source)
        for i, character in enumerate(spec.alphabet):
            if not isinstance(character, str) or len(character) != 1:
                raise spec_error(f"base.alphabet[{i}]", f"is {character!r}; expected one character",
                                 source)
        if len(set(spec.alphabet)) != len(spec.alphabet):
            raise spec_error("base.alphabet", "lists a character twice", source)
    merges = spec.merges
    if merges.dtype != np.int32 or merges.ndim != 2 or merges.shape[1] != 2:
        raise spec_error("merges", "must be a list of [left_id, right_id] pairs", source)
    limits = spec.n_base + np.arange(len(merges))
    bad = np.flatnonzero((merges < 0).any(axis=1) | (merges >= limits[:, None]).any(axis=1))
    if bad.size:
        k = int(bad[0])
        raise spec_error(f"merges[{k}]", f"is {merges[k].tolist()}; merge {k} may only join ids "
                         f"in [0, {int(limits[k])}) (the base symbols and earlier merges)", source)
    keys = merges[:, 0].astype(np.int64) << 32 | merges[:, 1].astype(np.int64)
    _, first = np.unique(keys, return_index=True)
    if len(first) != len(merges):
        k = int(np.setdiff1d(np.arange(len(merges)), first)[0])
        raise spec_error(f"merges[{k}]",
                         f"repeats the pair {merges[k].tolist()} of an earlier merge", source)
    for i, token in enumerate(spec.special_tokens):
        if not isinstance(token, str) or not token:
            raise spec_error(f"special_tokens[{i}]", f"is {token!r}; expected a non-empty string",
                             source)
    if len(set(spec.special_tokens)) != len(spec.special_tokens):
        raise spec_error("special_tokens", "lists a token twice", source)
    if spec.mode == "naive" and UNKNOWN not in spec.special_tokens:
        raise spec_error("special_tokens", f"must include {UNKNOWN!r} in naive mode (the token of "
                         "characters outside the alphabet)", source)
    if spec.vocab_size > np.iinfo(np.int32).max:
        raise spec_error("merges", "makes more than 2**31 - 1 tokens", source)
    order = spec.token_order
    if order is not None:
        if order.dtype != np.int32 or order.shape != (spec.vocab_size,):
            raise spec_error("token_order", f"must be {spec.vocab_size} int32 ids (one per token), "
                             f"got {order.dtype} of shape {order.shape}", source)
        seen = np.zeros(spec.vocab_size, dtype=bool)
        inside = (order >= 0) & (order < spec.vocab_size)
        seen[order[inside]] = True
        if not inside.all() or not seen.all():
            missing = int(np.flatnonzero(~seen)[0])
            raise spec_error("token_order", f"must hold every id in [0, {spec.vocab_size}) once; "
                             f"id {missing} is missing", source)


def to_json(spec: TokenizerSpec) -> str:
    """The tokenizer.json text of spec (merges one pair per line): version 1 when the ids are in
    the identity order, else version 2 with token_order."""
    if spec.alphabet is None:
        base = {"kind": "bytes", "size": 256}
    else:
        base = {"kind": "characters", "alphabet": list(spec.alphabet)}
    first_special = spec.n_base + len(spec.merges)
    header = {
        "format": FORMAT,
        "version": 1 if spec.token_order is None else 2,
        "mode": spec.mode,
        "pre_tokenizer": PRE_TOKENIZERS[spec.mode],
        "normalizer": spec.normalizer.to_dict() if spec.normalizer is not None else None,
        "base": base,
        "vocab_size": spec.vocab_size,
    }
    ids = (np.arange(spec.vocab_size) if spec.token_order is None else spec.token_order).tolist()
    specials = {token: ids[first_special + i] for i, token in enumerate(spec.special_tokens)}
    if spec.token_order is not None:
        header["token_order"] = ids
    lines = ["{"]
    lines += [f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},"
              for key, value in header.items()]
    pairs = ",\n".join(f"    [{left}, {right}]" for left, right in spec.merges.tolist())
    lines.append('  "merges": [\n' + pairs + "\n  ]," if pairs else '  "merges": [],')
    lines.append(f'  "special_tokens": {json.dumps(specials, ensure_ascii=False)}')
    lines.append("}")
    return "\n".join(lines) + "\n"


def field(document: dict, name: str, kind: type | tuple, source: str):
    if name not in document:
        raise spec_error(name, "is missing (truncated or hand-edited file?)", source)
    value = document[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        expected = (kind.__name__ if isinstance(kind, type)
                    else " or ".join(k.__name__ for k in kind))
        raise spec_error(name, f"is {value!r}; expected {expected}", source)
    return value


def from_json(document, source: str = "tokenizer.json") -> TokenizerSpec:
    """The TokenizerSpec of a parsed tokenizer.json; ValueError naming the field otherwise."""
    if not isinstance(document, dict):
        raise ValueError(f"{source}: not a tokenizer file (the JSON is a "
                         f"{type(document).__name__}, not an object)")
    if document.get("format") != FORMAT:
        hint = (" (it looks like a Hugging Face tokenizer.json; load that with "
                "Tokenizer.from_pretrained)" if "model" in document else "")
        raise spec_error("format", f"is {document.get('format')!r}, expected {FORMAT!r}: "
                         f"this is not an llm-from-scratch tokenizer file{hint}", source)
    version = field(document, "version", int, source)
    if version > VERSION:
        raise spec_error("version", f"is {version}, newer than the versions this llm-from-scratch "
                         f"reads (up to {VERSION}); upgrade llm-from-scratch to load it", source)
    if version < 1:
        raise spec_error("version", f"is {version}; versions start at 1", source)
    mode = field(document, "mode", str, source)
    if mode not in MODES:
        raise spec_error("mode", f"is {mode!r}; expected one of {MODES}", source)
    pre_tokenizer = field(document, "pre_tokenizer", str, source)
    if pre_tokenizer != PRE_TOKENIZERS[mode]:
        raise spec_error("pre_tokenizer", f"is {pre_tokenizer!r}; mode {mode!r} uses "
                         f"{PRE_TOKENIZERS[mode]!r}", source)
    settings = field(document, "normalizer", (dict, type(None)), source)
    try:
        normalizer = Normalizer.from_dict(settings) if settings is not None else None
    except ValueError as error:
        raise spec_error("normalizer", f"is invalid: {error}", source) from None
    base = field(document, "base", dict, source)
    if mode == "byte":
        if base != {"kind": "bytes", "size": 256}:
            raise spec_error("base", f"is {base!r}; byte mode expects "
                             '{"kind": "bytes", "size": 256}', source)
        alphabet = None
    else:
        if base.get("kind") != "characters" or not isinstance(base.get("alphabet"), list):
            raise spec_error("base", 'must be {"kind": "characters", "alphabet": [...]} in '
                             "naive mode", source)
        alphabet = tuple(base["alphabet"])
    token_order = None
    if version >= 2:
        order_list = field(document, "token_order", list, source)
        if not all(type(token_id) is int for token_id in order_list):
            raise spec_error("token_order", "must be a list of integer ids", source)
        token_order = np.array(order_list, dtype=np.int64)
        if token_order.size and (token_order.min() < 0 or token_order.max() >= len(order_list)):
            raise spec_error("token_order", f"holds an id outside [0, {len(order_list)})", source)
        token_order = token_order.astype(np.int32)
    merges_list = field(document, "merges", list, source)
    # Exactly two JSON integers a pair: NumPy would coerce true, 32.7 and "32" to ids.
    int32_max = np.iinfo(np.int32).max
    bad = next((k for k, pair in enumerate(merges_list)
                if not (type(pair) is list and len(pair) == 2 and type(pair[0]) is int
                        and type(pair[1]) is int and abs(pair[0]) <= int32_max
                        and abs(pair[1]) <= int32_max)), None)
    if bad is not None:
        raise spec_error(f"merges[{bad}]", f"is {merges_list[bad]!r}; expected a "
                         "[left_id, right_id] pair of int32 integers", source)
    merges = np.array(merges_list, dtype=np.int64).reshape(-1, 2)
    if merges.size and (merges.min() < 0 or merges.max() > int32_max):
        k = int(np.flatnonzero((merges < 0).any(axis=1))[0])
        raise spec_error(f"merges[{k}]", f"is {merges[k].tolist()}; ids are non-negative int32",
                         source)
    specials = field(document, "special_tokens", dict, source)
    vocab_size = field(document, "vocab_size", int, source)
    if token_order is not None and len(token_order) != vocab_size:
        raise spec_error("token_order", f"has {len(token_order)} ids for a vocab_size of "
                         f"{vocab_size} (truncated file?)", source)
    spec = TokenizerSpec(mode, normalizer, alphabet, merges.astype(np.int32), tuple(specials),
                         token_order)
    check_spec(spec, source)
    first_special = spec.n_base + len(spec.merges)
    ids = token_order if token_order is not None else np.arange(first_special + len(specials))
    for i, (token, token_id) in enumerate(specials.items()):
        expected = int(ids[first_special + i])
        if token_id != expected or isinstance(token_id, bool):
            order = "the ids after the merges" if token_order is None else "their token_order ids"
            raise spec_error(f"special_tokens[{token!r}]", f"is {token_id!r}; special tokens take "
                             f"{order}, in order, so expected {expected}", source)
    if vocab_size != spec.vocab_size:
        raise spec_error("vocab_size", f"is {vocab_size}, but base, merges and special tokens make "
                         f"{spec.vocab_size} (truncated file?)", source)
    return spec


def write(path: str | os.PathLike, spec: TokenizerSpec) -> None:
    """Write spec to path as tokenizer.json, atomically."""
    check_spec(spec, str(path))
    with atomic_write(path, "w", encoding="utf-8") as file:
        file.write(to_json(spec))


def read_document(path: str | os.PathLike):
    """The parsed JSON of a tokenizer.json (ours or another library's); OSError if unreadable,
    ValueError saying the file is truncated or not JSON."""
    try:
        return read_json(path)
    except ValueError as error:
        reason = str(error).removeprefix(f"{path}: ")
        raise ValueError(f"{path}: not a valid tokenizer.json (truncated or {reason})") from None


def read(path: str | os.PathLike) -> TokenizerSpec:
    """The TokenizerSpec stored at path. OSError if unreadable; ValueError naming the field if
    the file is truncated, foreign, from a newer version or inconsistent."""
    return from_json(read_document(path), str(path))
