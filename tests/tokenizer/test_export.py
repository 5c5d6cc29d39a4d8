"""llm/tokenizer/export.py: HF tokenizers and tiktoken, given our export, give our ids."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm.tokenizer import Tokenizer
from llm.tokenizer.byte_level import byte_to_unicode
from llm.tokenizer.export import export, hf_tokenizer_json, tiktoken_ranks
from llm.tokenizer.pretokenize import GPT2_PATTERN

SAMPLE = "".join(f"Line {i}: it's the {'very ' * (i % 4)}end of the world as we know it, "
                 f"naïve café, 日本語 {i * 13}!\n\n  indented\ttab\r\n" for i in range(60))
texts = st.text(st.sampled_from(list(" \n\t\r'sdtlvmre0123 abcxyz.,!日本é😀\u3000\u0301")) |
                st.characters(exclude_categories=["Cs"]))


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer.train(SAMPLE, 600, min_frequency=1)


@pytest.fixture(scope="module")
def hf(tokenizer, tmp_path_factory):
    tokenizers = pytest.importorskip("tokenizers")
    path = tmp_path_factory.mktemp("hf") / "tokenizer.json"
    export(tokenizer, "hf", path)
    return tokenizers.Tokenizer.from_file(str(path))


@pytest.fixture(scope="module")
def tiktoken_encoding(tokenizer, tmp_path_factory):
    tiktoken = pytest.importorskip("tiktoken")
    from tiktoken.load import load_tiktoken_bpe

    path = tmp_path_factory.mktemp("tiktoken") / "ranks.tiktoken"
    export(tokenizer, "tiktoken", path)
    return tiktoken.Encoding("ours", pat_str=GPT2_PATTERN, mergeable_ranks=load_tiktoken_bpe(str(path)),
                             special_tokens=tokenizer.special_tokens)


def test_byte_to_unicode_is_gpt2s_printable_map():
    table = byte_to_unicode()
    assert len(set(table.values())) == 256
    assert table[ord("A")] == "A" and table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ"


@settings(max_examples=200)
@given(text=texts)
def test_hf_gives_our_ids(tokenizer, hf, text):
    # HF always recognises added tokens, as ours does when they are allowed (hypothesis does
    # find "<|endoftext|>" in arbitrary text).
    assert hf.encode(text).ids == tokenizer.encode(text, allowed_special="all")


@settings(max_examples=200)
@given(text=texts)
def test_tiktoken_gives_our_ids(tokenizer, tiktoken_encoding, text):
    assert tiktoken_encoding.encode_ordinary(text) == tokenizer.encode(text)


def test_special_tokens_and_decoding(tokenizer, hf, tiktoken_encoding):
    text = SAMPLE + "<|endoftext|>" + SAMPLE[:100]
    ours = tokenizer.encode(text, allowed_special="all")
    assert hf.encode(text).ids == ours   # HF always recognises added tokens
    assert tiktoken_encoding.encode(text, allowed_special="all") == ours
    assert hf.decode(ours, skip_special_tokens=False) == text
    assert tiktoken_encoding.decode(ours) == text


def test_hf_document_shape(tokenizer):
    document = hf_tokenizer_json(tokenizer)
    # every token, the special one too (as GPT-2's own): HF takes an added token's id from there
    assert len(document["model"]["vocab"]) == tokenizer.vocab_size
    assert document["model"]["vocab"]["<|endoftext|>"] == tokenizer.special_tokens["<|endoftext|>"]
    assert len(document["model"]["merges"]) == len(tokenizer.merges)
    assert document["added_tokens"][0]["id"] == tokenizer.special_tokens["<|endoftext|>"]
    assert tiktoken_ranks(tokenizer).count("\n") == tokenizer.vocab_size - 1


def test_naive_tokenizers_cannot_be_exported(tmp_path):
    naive = Tokenizer.train(SAMPLE, 100, mode="naive")
    for export_format in ("hf", "tiktoken"):
        with pytest.raises(ValueError, match="only byte-mode"):
            export(naive, export_format, tmp_path / "x")
    with pytest.raises(ValueError, match="format='sentencepiece'"):
        export(Tokenizer.train(SAMPLE, 300), "sentencepiece", tmp_path / "x")
    assert list(tmp_path.iterdir()) == []
