"""llm/tokenizer/schema.py: tokenizer.json validation names the field that is wrong."""
import json

import numpy as np
import pytest

from llm.tokenizer import Tokenizer
from llm.tokenizer.schema import TokenizerSpec, from_json, read, to_json, write

BYTE_SPEC = TokenizerSpec("byte", None, None, np.array([[104, 105], [256, 33]], np.int32),
                          ("<|endoftext|>",))


def document(**changes) -> dict:
    result = json.loads(to_json(BYTE_SPEC))
    result.update(changes)
    return result


def test_round_trip_through_json():
    spec = from_json(json.loads(to_json(BYTE_SPEC)))
    np.testing.assert_array_equal(spec.merges, BYTE_SPEC.merges)
    assert (spec.mode, spec.alphabet, spec.special_tokens) == ("byte", None, ("<|endoftext|>",))
    assert json.loads(to_json(BYTE_SPEC))["special_tokens"] == {"<|endoftext|>": 258}


@pytest.mark.parametrize("changes, message", [
    ({"format": "something-else"}, "field 'format' is 'something-else'"),
    ({"version": 3}, "field 'version' is 3, newer .* upgrade llm-from-scratch"),
    ({"version": 2}, "field 'token_order' is missing"),
    ({"version": "1"}, "field 'version' is '1'; expected int"),
    ({"version": 0}, "field 'version' is 0"),
    ({"mode": "bytes"}, "field 'mode' is 'bytes'"),
    ({"pre_tokenizer": "naive"}, "field 'pre_tokenizer' is 'naive'; mode 'byte' uses 'gpt2'"),
    ({"normalizer": {"lowercase": True}}, "field 'normalizer' must be null in byte mode"),
    ({"normalizer": {"shout": True}}, "field 'normalizer' is invalid: .*unknown setting 'shout'"),
    ({"base": {"kind": "bytes", "size": 255}}, "field 'base' is"),
    ({"merges": [[104, 105], [256]]}, "field 'merges\\[1\\]' is \\[256\\]"),
    ({"merges": [[104, 105], ["a", "b"]]}, "field 'merges\\[1\\]'"),
    ({"merges": [[104, 105], [256, 257]]}, "field 'merges\\[1\\]' is \\[256, 257\\]; merge 1 may "
                                           "only join ids in \\[0, 257\\)"),
    ({"merges": [[104, 105], [-1, 3]]}, "field 'merges\\[1\\]' is \\[-1, 3\\]"),
    # JSON that NumPy would coerce into ids: booleans, fractions, digit strings; past int32
    ({"merges": [[104, 105], [True, 116]]}, "field 'merges\\[1\\]' is \\[True, 116\\]"),
    ({"merges": [[32.7, 116.9]]}, "field 'merges\\[0\\]' is \\[32.7, 116.9\\]"),
    ({"merges": [["32", "116"]]}, "field 'merges\\[0\\]' is \\['32', '116'\\]"),
    ({"merges": [[2 ** 40, 116]]}, "field 'merges\\[0\\]' .*int32"),
    ({"merges": [[104, 105], [104, 105]]}, "field 'merges\\[1\\]' repeats the pair"),
    ({"merges": "104 105"}, "field 'merges' is '104 105'; expected list"),
    ({"special_tokens": {"<|endoftext|>": 300}}, "field 'special_tokens\\['<\\|endoftext\\|>'\\]' is 300"),
    ({"special_tokens": {"": 258}}, "field 'special_tokens\\[0\\]' is ''"),
    ({"vocab_size": 5000}, "field 'vocab_size' is 5000, but .* make 259 \\(truncated file\\?\\)"),
])
def test_bad_fields_are_named(changes, message):
    with pytest.raises(ValueError, match=message):
        from_json(document(**changes), "t.json")


@pytest.mark.parametrize("name", ["format", "version", "mode", "pre_tokenizer", "normalizer", "base",
                                  "merges", "special_tokens", "vocab_size"])
def test_missing_fields_are_named(name):
    changed = document()
    del changed[name]
    with pytest.raises(ValueError, match=f"field '{name}'"):
        from_json(changed, "t.json")


def test_naive_alphabet_is_checked():
    naive = json.loads(to_json(TokenizerSpec("naive", None, ("a", "b"), np.empty((0, 2), np.int32),
                                             ("<unknown>",))))
    assert from_json(naive).alphabet == ("a", "b")
    for alphabet, message in ((["a", "a"], "lists a character twice"), (["ab"], "alphabet\\[0\\]"),
                              ([], "at least one character")):
        naive["base"]["alphabet"] = alphabet
        naive["vocab_size"] = len(alphabet) + 1
        with pytest.raises(ValueError, match=message):
            from_json(naive)
    naive["base"] = {"kind": "bytes", "size": 256}
    with pytest.raises(ValueError, match="field 'base' must be"):
        from_json(naive)
    naive = json.loads(to_json(TokenizerSpec("naive", None, ("a",), np.empty((0, 2), np.int32),
                                             ("<unknown>",))))
    naive["special_tokens"] = {"<pad>": 1}
    with pytest.raises(ValueError, match="field 'special_tokens' must include '<unknown>'"):
        from_json(naive)


def test_foreign_truncated_and_binary_files(tmp_path):
    hf = tmp_path / "hf.json"
    hf.write_text(json.dumps({"version": "1.0", "model": {"type": "BPE"}}))
    with pytest.raises(ValueError, match="field 'format' is None.*Hugging Face"):
        read(hf)
    truncated = tmp_path / "truncated.json"
    truncated.write_text(to_json(BYTE_SPEC)[:100])
    with pytest.raises(ValueError, match="truncated or not valid JSON"):
        Tokenizer.load(truncated)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\x80\x81\xff")
    with pytest.raises(ValueError, match="not UTF-8"):
        Tokenizer.load(binary)
    listing = tmp_path / "list.json"
    listing.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a tokenizer file"):
        Tokenizer.load(listing)
    with pytest.raises(OSError):
        Tokenizer.load(tmp_path / "missing.json")


def test_write_is_atomic_and_validates(tmp_path):
    path = tmp_path / "t.json"
    write(path, BYTE_SPEC)
    before = path.read_text()
    bad = TokenizerSpec("byte", None, None, np.array([[300, 1]], np.int32), ())
    with pytest.raises(ValueError, match="merges\\[0\\]"):
        write(path, bad)
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.json"]
