"""Byte-level BPE tokenizers written elsewhere, read into a TokenizerSpec that keeps their ids.

GPT-2     vocab.json (each token in GPT-2's byte-level alphabet -> its id, llm.tokenizer.byte_level)
          and merges.txt (an optional "#version" line, then "left right" a line, in rank order).
          "<|endoftext|>" and the tokens a tokenizer_config.json ("added_tokens_decoder") or
          added_tokens.json beside them lists are special tokens.
HF        a Hugging Face tokenizer.json with a BPE model, the ByteLevel pre-tokenizer (GPT-2's
          pattern, no prefix space) and decoder, and no normalizer; merges as "left right"
          strings or [left, right] pairs; its added_tokens become special tokens.
tiktoken  a .tiktoken ranks file (base64 of the token's bytes, a space, its rank, one a line);
          the ranks are the ids, and the merges are recovered from them (recover_merges).

Every kind comes down to `byte_level_spec`: the 256 bytes and the merge results, in merge
order, are the token indexes; their ids are what the files say (token_order). A tokenizer of
another kind is a ValueError that names the option and what to do.
"""
import base64
import binascii
import os
from pathlib import Path

import numpy as np

from llm.tokenizer import schema
from llm.tokenizer.byte_level import shown, shown_bytes
from llm.tokenizer.schema import END_OF_TEXT_TOKENS, TokenizerSpec
from llm.util.json_file import read_json

TOKENIZER_JSON = "tokenizer.json"
VOCAB_JSON = "vocab.json"
MERGES_TXT = "merges.txt"
TOKENIZER_CONFIG = "tokenizer_config.json"
ADDED_TOKENS_JSON = "added_tokens.json"


def byte_level_spec(vocab: dict[str, int], merges: list[tuple[str, str]],
                    special_tokens: dict[str, int], source: str) -> TokenizerSpec:
    """The spec of a byte-level BPE tokenizer given as its files give it.

    vocab: token shown in GPT-2's byte-level alphabet -> id; holds the 256 bytes and every
        merge's result, and may hold special tokens (as their text).
    merges: (left, right) shown tokens in rank order; each joins two tokens the bytes or an
        earlier merge made, and its result's id is vocab's.
    special_tokens: text -> id (matching vocab's id when vocab holds the text too).
    Ids must number the tokens 0..vocab_size-1. Whatever we cannot reproduce — a missing byte,
    a merge of unknown parts, a vocab entry nothing makes — is a ValueError naming it.
    """
    index_of = {}   # shown token -> index: bytes 0..255, then merge results
    order = []      # index -> id
    for byte in range(256):
        token = shown(bytes([byte]))
        if token not in vocab:
            raise ValueError(f"{source}: the vocab lacks the byte 0x{byte:02x} (shown as "
                             f"{token!r}); a byte-level tokenizer needs all 256 bytes as tokens "
                             "(text with that byte could not be encoded)")
        index_of[token] = byte
        order.append(vocab[token])
    pairs = np.empty((len(merges), 2), dtype=np.int32)
    for k, (left, right) in enumerate(merges):
        for part in (left, right):
            if part not in index_of:
                problem = ("is made only by a later merge" if part in vocab and shown_bytes(part)
                           else "is not a token of the vocab")
                raise ValueError(f"{source}: merge {k} ({left!r} {right!r}): {part!r} {problem}; "
                                 "each merge joins tokens the bytes or earlier merges made")
        result = left + right
        if result in index_of:
            raise ValueError(f"{source}: merge {k} ({left!r} {right!r}) makes {result!r}, which "
                             "the bytes or an earlier merge already make; each merge makes a new "
                             "token")
        if result not in vocab:
            raise ValueError(f"{source}: merge {k} ({left!r} {right!r}) makes {result!r}, which is "
                             "not in the vocab (truncated vocab?)")
        pairs[k] = index_of[left], index_of[right]
        index_of[result] = 256 + k
        order.append(vocab[result])
    for token, token_id in vocab.items():
        if token in special_tokens and special_tokens[token] != token_id:
            raise ValueError(f"{source}: special token {token!r} has id {special_tokens[token]}, "
                             f"but the vocab gives it id {token_id}")
        if token not in index_of and token not in special_tokens:
            raise ValueError(f"{source}: vocab entry {token!r} (id {token_id}) is neither a "
                             "byte, a merge's result nor a special token, so nothing encodes to "
                             "it; list it as an added token or remove it")
    mergeable_ids = set(order)
    specials = sorted(special_tokens.items(), key=lambda item: item[1])
    for token, token_id in specials:
        if token_id in mergeable_ids:
            raise ValueError(f"{source}: special token {token!r} has id {token_id}, which the "
                             "vocab gives a byte or merge result; special tokens need ids of "
                             "their own")
        order.append(token_id)
    ids = np.array(order, dtype=np.int64)
    counts = np.bincount(ids[(ids >= 0) & (ids < len(ids))], minlength=len(ids))
    if not (counts == 1).all():
        missing = int(np.flatnonzero(counts != 1)[0])
        problem = "is used twice" if counts[missing] > 1 else "is missing"
        raise ValueError(f"{source}: ids must number the {len(ids)} tokens 0..{len(ids) - 1} "
                         f"(bytes, merge results, special tokens) once each; id {missing} "
                         f"{problem}")
    return TokenizerSpec("byte", None, None, pairs, tuple(token for token, _ in specials),
                         ids.astype(np.int32))


# ---- GPT-2's vocab.json + merges.txt --------------------------------------------------------

def read_merges_txt(path: Path) -> list[tuple[str, str]]:
    """The (left, right) pairs of merges.txt in rank order (a "#version" first line skipped)."""
    lines = path.read_text(encoding="utf-8").split("\n")
    merges = []
    for number, line in enumerate(lines, start=1):
        line = line.removesuffix("\r")
        if not line or (number == 1 and line.startswith("#version")):
            continue
        parts = line.split(" ")
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"{path}: line {number} is {line!r}; expected two tokens separated "
                             "by one space")
        merges.append((parts[0], parts[1]))
    return merges


def read_vocab_json(path: Path) -> dict[str, int]:
    vocab = read_json(path)
    if not isinstance(vocab, dict) or not all(type(i) is int and i >= 0 for i in vocab.values()):
        raise ValueError(f"{path}: not a vocab.json (expected an object of token -> id >= 0)")
    return vocab


def listed_special_tokens(directory: Path) -> dict[str, int]:
    """The added tokens transformers lists beside vocab.json: tokenizer_config.json's
    added_tokens_decoder ({"50256": {"content": "<|endoftext|>", ...}}) and added_tokens.json
    ({"<|endoftext|>": 50256})."""
    tokens = {}
    config_path = directory / TOKENIZER_CONFIG
    if config_path.is_file():
        config = read_json(config_path)
        decoder = config.get("added_tokens_decoder", {}) if isinstance(config, dict) else {}
        for token_id, token in decoder.items():
            if not (isinstance(token, dict) and isinstance(token.get("content"), str)
                    and token_id.isdigit()):
                raise ValueError(f"{config_path}: added_tokens_decoder[{token_id!r}] is {token!r}; "
                                 'expected {"content": "...", ...} under a numeric id')
            check_added_token(token, f"{config_path}: added_tokens_decoder[{token_id!r}]")
            tokens[token["content"]] = int(token_id)
    added_path = directory / ADDED_TOKENS_JSON
    if added_path.is_file():
        added = read_json(added_path)
        if not isinstance(added, dict) or not all(type(i) is int for i in added.values()):
            raise ValueError(f"{added_path}: expected an object of token -> id")
        tokens.update(added)
    return tokens


def read_gpt2_files(vocab_path: Path, merges_path: Path) -> TokenizerSpec:
    """The spec of GPT-2's vocab.json + merges.txt (with the special tokens of
    listed_special_tokens, and "<|endoftext|>" when vocab.json holds it)."""
    vocab = read_vocab_json(vocab_path)
    merges = read_merges_txt(merges_path)
    specials = listed_special_tokens(vocab_path.parent)
    if END_OF_TEXT_TOKENS[0] in vocab:
        specials.setdefault(END_OF_TEXT_TOKENS[0], vocab[END_OF_TEXT_TOKENS[0]])
    return byte_level_spec(vocab, merges, specials, f"{vocab_path} + {merges_path.name}")


# ---- Hugging Face tokenizer.json -------------------------------------------------------------

def unsupported(source: str, where: str, value, remedy: str) -> ValueError:
    return ValueError(f"{source}: {where} is {value!r}; only byte-level BPE tokenizers in GPT-2's "
                      f"form load (llm cannot reproduce this one's ids). {remedy}")


def check_byte_level(component, source: str, where: str) -> None:
    """component must be ByteLevel with GPT-2's regex and no prefix space."""
    if not isinstance(component, dict) or component.get("type") != "ByteLevel":
        kind = component.get("type") if isinstance(component, dict) else component
        remedy = ("A Metaspace (SentencePiece) tokenizer is not byte-level: use its own library."
                  if kind == "Metaspace" else "Use a tokenizer with the ByteLevel one.")
        raise unsupported(source, f"{where}.type", kind, remedy)
    if component.get("add_prefix_space", False):
        raise unsupported(source, f"{where}.add_prefix_space", True,
                          "Set it to false (GPT-2's setting) and add the space to the text "
                          "yourself where you want one.")
    if not component.get("use_regex", True):
        raise unsupported(source, f"{where}.use_regex", False,
                          "Only GPT-2's pre-tokenization pattern (use_regex true) is supported.")


def check_added_token(token: dict, where: str) -> None:
    for option in ("single_word", "lstrip", "rstrip"):
        if token.get(option, False):
            raise ValueError(f"{where}: {option} is true; our special tokens match their exact "
                             f"text only, so set {option} to false")


def read_hf_tokenizer_json(document: dict, source: str) -> TokenizerSpec:
    """The spec of a parsed Hugging Face tokenizer.json (see the module docstring for the
    kind that loads)."""
    model = document.get("model")
    if not isinstance(model, dict) or model.get("type", "BPE") != "BPE":
        kind = model.get("type") if isinstance(model, dict) else model
        raise unsupported(source, "model.type", kind, "WordPiece, Unigram and WordLevel models "
                          "are not BPE: use the `tokenizers` library for them.")
    for option, allowed, remedy in (
            ("dropout", (None, 0, 0.0), "Drop it (it makes encoding random)."),
            ("byte_fallback", (None, False), "It belongs to SentencePiece-style BPE."),
            ("continuing_subword_prefix", (None, ""), "It belongs to WordPiece-style BPE."),
            ("end_of_word_suffix", (None, ""), "It belongs to word-level BPE."),
            ("ignore_merges", (None, False), "Set it to false: merges alone must decide.")):
        if model.get(option) not in allowed:
            raise unsupported(source, f"model.{option}", model.get(option), remedy)
    normalizer = document.get("normalizer")
    if normalizer is not None and normalizer != {"type": "Sequence", "normalizers": []}:
        kind = normalizer.get("type") if isinstance(normalizer, dict) else normalizer
        raise unsupported(source, "normalizer.type", kind, "A byte-level tokenizer must see the "
                          "text as it is; remove the normalizer or normalize text yourself first.")
    pre_tokenizer = document.get("pre_tokenizer")
    if isinstance(pre_tokenizer, dict) and pre_tokenizer.get("type") == "Sequence":
        inner = pre_tokenizer.get("pretokenizers")
        if not isinstance(inner, list) or len(inner) != 1:
            raise unsupported(source, "pre_tokenizer.pretokenizers", inner,
                              "Only a Sequence of ByteLevel alone (GPT-2's pattern) is supported.")
        check_byte_level(inner[0], source, "pre_tokenizer.pretokenizers[0]")
    else:
        check_byte_level(pre_tokenizer, source, "pre_tokenizer")
    decoder = document.get("decoder")
    if not isinstance(decoder, dict) or decoder.get("type") != "ByteLevel":
        raise unsupported(source, "decoder.type", decoder.get("type") if isinstance(decoder, dict)
                          else decoder, "A byte-level BPE decodes with ByteLevel.")
    processor = document.get("post_processor")
    if processor is not None and not (isinstance(processor, dict)
                                      and processor.get("type") == "ByteLevel"):
        kind = processor.get("type") if isinstance(processor, dict) else processor
        raise unsupported(source, "post_processor.type", kind, "It adds tokens around every "
                          "text, which our encode never does; remove it (HF gives our ids with "
                          "add_special_tokens=False).")
    vocab = model.get("vocab")
    if not isinstance(vocab, dict) or not all(type(i) is int and i >= 0 for i in vocab.values()):
        raise ValueError(f"{source}: model.vocab must be an object of token -> id >= 0")
    merges = []
    for k, merge in enumerate(model.get("merges") or []):
        parts = merge.split(" ") if isinstance(merge, str) else merge
        if not (isinstance(parts, list) and len(parts) == 2
                and all(isinstance(part, str) and part for part in parts)):
            raise ValueError(f"{source}: model.merges[{k}] is {merge!r}; expected \"left right\" "
                             "or [left, right]")
        merges.append((parts[0], parts[1]))
    specials = {}
    for i, token in enumerate(document.get("added_tokens") or []):
        where = f"{source}: added_tokens[{i}]"
        if not (isinstance(token, dict) and isinstance(token.get("content"), str)
                and token["content"]):
            raise ValueError(f"{where} is {token!r}; expected {{\"id\": ..., \"content\": ...}}")
        check_added_token(token, where)
        specials[token["content"]] = hf_added_token_id(token["content"], vocab, specials)
    return byte_level_spec(vocab, merges, specials, source)


def hf_added_token_id(content: str, vocab: dict[str, int], added: dict[str, int]) -> int:
    """The id HF tokenizers gives an added token, whatever its "id" field says: the model
    vocab's id for its text, else the one after the vocab (or after the last added token, when
    that is beyond the vocab)."""
    if content in vocab:
        return vocab[content]
    if content in added:
        return added[content]
    last = max(added.values(), default=None)
    return len(vocab) if last is None or last < len(vocab) else last + 1


# ---- tiktoken ----------------------------------------------------------------------------------

def read_tiktoken_ranks(path: Path) -> dict[bytes, int]:
    """token bytes -> rank from a .tiktoken file; a bad line is a ValueError naming it."""
    ranks = {}
    with open(path, "rb") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            parts = line.split()
            try:
                if len(parts) != 2:
                    raise ValueError("expected a base64 token, a space and a rank")
                token = base64.b64decode(parts[0], validate=True)
                rank = int(parts[1])
            except (ValueError, binascii.Error) as error:
                raise ValueError(f"{path}: line {number} is {line[:80]!r}: {error}") from None
            if token in ranks:
                raise ValueError(f"{path}: line {number}: token {token!r} repeats line "
                                 f"{list(ranks).index(token) + 1}")
            ranks[token] = rank
    return ranks


def recover_merges(ranks: dict[bytes, int], source: str) -> list[tuple[bytes, bytes]]:
    """The merges that built the ranks, in rank order: BPE on each token of two or more bytes,
    using only the ranks below its own, must leave exactly two parts, which are its merge."""
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda item: item[1]):
        if len(token) < 2:
            continue
        parts = [token[i:i + 1] for i in range(len(token))]
        while len(parts) > 2:
            best, best_rank = -1, rank
            for i in range(len(parts) - 1):
                pair_rank = ranks.get(parts[i] + parts[i + 1], rank)
                if pair_rank < best_rank:
                    best, best_rank = i, pair_rank
            if best < 0:
                break
            parts[best:best + 2] = [parts[best] + parts[best + 1]]
        if len(parts) != 2:
            raise ValueError(f"{source}: token {token!r} (rank {rank}) is not the merge of two "
                             "tokens of lower rank (BPE over the lower ranks leaves it in "
                             f"{len(parts)} parts), so no BPE merge makes it")
        merges.append((parts[0], parts[1]))
    return merges


def read_tiktoken(path: str | os.PathLike, special_tokens: dict[str, int] | None) -> TokenizerSpec:
    """The spec of a .tiktoken ranks file plus special_tokens (text -> id, or None)."""
    path = Path(path)
    special_tokens = dict(special_tokens or {})
    for token, token_id in special_tokens.items():
        if not isinstance(token, str) or not token or type(token_id) is not int:
            raise ValueError(f"special_tokens: {token!r}: {token_id!r}; expected a non-empty str "
                             "-> int id")
    ranks = read_tiktoken_ranks(path)
    merges = recover_merges(ranks, str(path))
    vocab = {shown(token): rank for token, rank in ranks.items()}
    return byte_level_spec(vocab, [(shown(left), shown(right)) for left, right in merges],
                           special_tokens, str(path))


# ---- any tokenizer directory -------------------------------------------------------------------

def tokenizer_json_spec(document, path: Path) -> TokenizerSpec:
    """The spec of a parsed tokenizer.json, ours or Hugging Face's (by its content)."""
    if isinstance(document, dict) and document.get("format") == schema.FORMAT:
        return schema.from_json(document, str(path))
    if isinstance(document, dict) and "model" in document:
        return read_hf_tokenizer_json(document, str(path))
    raise ValueError(f"{path}: neither a Hugging Face tokenizer.json (no \"model\") nor ours "
                     f"(\"format\": {schema.FORMAT!r})")


def read(path: str | os.PathLike) -> TokenizerSpec:
    """The spec of the tokenizer at path: a directory (its tokenizer.json, else vocab.json +
    merges.txt), a tokenizer.json (ours or HF's), or a vocab.json with merges.txt beside it."""
    path = Path(path)
    if path.is_dir():
        has_gpt2_files = (path / VOCAB_JSON).is_file() and (path / MERGES_TXT).is_file()
        if (path / TOKENIZER_JSON).is_file():
            document = read_json(path / TOKENIZER_JSON)
            if not has_gpt2_files or (isinstance(document, dict) and (
                    "model" in document or document.get("format") == schema.FORMAT)):
                return tokenizer_json_spec(document, path / TOKENIZER_JSON)
        if has_gpt2_files:
            return read_gpt2_files(path / VOCAB_JSON, path / MERGES_TXT)
        raise FileNotFoundError(f"{path} holds no tokenizer: expected {TOKENIZER_JSON}, or "
                                f"{VOCAB_JSON} and {MERGES_TXT}")
    if path.suffix == ".tiktoken":
        raise ValueError(f"{path}: a tiktoken ranks file; load it with "
                         "Tokenizer.from_tiktoken(path, special_tokens)")
    if path.name == VOCAB_JSON or path.name == MERGES_TXT:
        return read_gpt2_files(path.with_name(VOCAB_JSON), path.with_name(MERGES_TXT))
    return tokenizer_json_spec(schema.read_document(path), path)
