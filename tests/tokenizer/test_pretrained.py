"""llm/tokenizer/pretrained.py (and the id order it brings): tokenizers written elsewhere — GPT-2's
vocab.json + merges.txt, Hugging Face tokenizer.json, tiktoken ranks — give the ids their own
libraries give, and save_pretrained writes what transformers loads. No network: the files are
made here from a tokenizer we train, in GPT-2's id convention and in permuted ones."""
import base64
import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm.tokenizer import Tokenizer
from llm.tokenizer.byte_level import byte_to_unicode, shown
from llm.tokenizer.export import export
from llm.tokenizer.pretokenize import GPT2_PATTERN
from llm.tokenizer.schema import TokenizerSpec, to_json

EOT = "<|endoftext|>"
FIXTURES = Path(__file__).parent / "fixtures"
CORPORA = Path(os.environ.get("LLM_CORPORA") or Path(__file__).resolve().parents[3] / "shared"
               / "corpora")
SAMPLE = "".join(f"Line {i}: it's the {'very ' * (i % 4)}end of the world as we know it, "
                 f"they're here, we've won, I'm sure you'll see, he'd say; naïve café, "
                 f"日本語 {i * 137}!\n\n  indented\ttab\r\n" for i in range(80))
TEXTS = [
    "", "Hello world", "hello  world", " leading space", "trailing space ", "\n\n\n",
    "   \t\t  \n  x", "a\r\nb", "it's they're we've I'm you'll he'd don't 'S 'T 'RE",
    "12345 3.14159 1,000,000 2024-01-01", "😀 emoji 👩‍👩‍👧 flags 🇫🇷",
    "日本語のテキスト 中文 한국어",
    "e\u0301 combining a\u0308 marks", "Ünïcödé Ærøskøbing ß", "\u3000ideographic space",
    f"one{EOT}two", f"{EOT}{EOT} start and end {EOT}", f"spaced {EOT} out", "<|endof", "zzz",
    "\x00\x01 control \x7f", "naïve café " * 20,
]


def training_text() -> str:
    path = CORPORA / "tinyshakespeare.txt"
    extra = path.read_text(encoding="utf-8")[:300_000] if path.is_file() else ""
    return SAMPLE + extra


def sample_texts() -> list[str]:
    """TEXTS, tinyshakespeare lines and a Latin-1 Gutenberg book's start, when present."""
    texts = list(TEXTS)
    path = CORPORA / "tinyshakespeare.txt"
    if path.is_file():
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        texts += lines[:400] + ["".join(lines[1000:1200])]
    for book in sorted((CORPORA / "gutenberg").glob("*.txt"))[:3]:
        texts.append(book.read_bytes()[:20_000].decode("utf-8", errors="replace"))
    texts.append(SAMPLE)
    return texts


@pytest.fixture(scope="module")
def trained() -> Tokenizer:
    return Tokenizer.train(training_text(), 1200)


def gpt2_ids(tokenizer: Tokenizer) -> list[int]:
    """GPT-2's convention for our tokens: the bytes in byte_to_unicode order first ("!" is id
    0), then the merges in order, then the special tokens: (vocab_size,) ids by our id."""
    byte_order = list(byte_to_unicode())
    return [byte_order.index(i) if i < 256 else i for i in range(tokenizer.vocab_size)]


def roberta_ids(tokenizer: Tokenizer) -> list[int]:
    """RoBERTa's convention: special tokens first, then bytes (byte_to_unicode order), merges."""
    n_special = len(tokenizer.special_tokens)
    byte_order = list(byte_to_unicode())
    n_mergeable = tokenizer.vocab_size - n_special
    return [n_special + (byte_order.index(i) if i < 256 else i) if i < n_mergeable
            else i - n_mergeable for i in range(tokenizer.vocab_size)]


def write_gpt2_files(tokenizer: Tokenizer, ids: list[int], directory: Path,
                     added_tokens_json: bool = False) -> Path:
    """vocab.json + merges.txt of our trained tokenizer with ids[our id] as ids."""
    directory.mkdir(parents=True, exist_ok=True)
    vocab = {}
    for our_id, token in enumerate(tokenizer.vocab):
        is_special = our_id in tokenizer.special_tokens.values()
        vocab[token.decode() if is_special else shown(token)] = ids[our_id]
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merges = [f"{shown(tokenizer.vocab[a])} {shown(tokenizer.vocab[b])}"
              for a, b in tokenizer.merges.tolist()]
    (directory / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n",
                                          encoding="utf-8")
    if added_tokens_json:
        (directory / "added_tokens.json").write_text(json.dumps(
            {token: ids[i] for token, i in tokenizer.special_tokens.items()}))
    return directory


def with_specials(tokenizer: Tokenizer, tokens: list[str]) -> Tokenizer:
    copy = Tokenizer(tokenizer.spec)
    copy.register_special_tokens(tokens)
    return copy


def hf_from_gpt2_files(directory: Path, special_tokens: list[str]):
    """HF tokenizers built from vocab.json + merges.txt, the ByteLevel way."""
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import decoders, models, pre_tokenizers

    hf = tokenizers.Tokenizer(models.BPE.from_file(str(directory / "vocab.json"),
                                                   str(directory / "merges.txt")))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    hf.decoder = decoders.ByteLevel()
    hf.add_special_tokens(special_tokens)
    return hf


def assert_same_ids(ours: Tokenizer, encode_peer, texts=None) -> None:
    for text in texts or sample_texts():
        ids = ours.encode(text, allowed_special="all")
        assert ids == encode_peer(text), text[:80]
        assert ours.decode(ids) == text


# ---- GPT-2's vocab.json + merges.txt ---------------------------------------------------------

@pytest.fixture(scope="module")
def gpt2_dir(trained, tmp_path_factory) -> Path:
    return write_gpt2_files(trained, gpt2_ids(trained), tmp_path_factory.mktemp("gpt2"))


def test_gpt2_files_give_gpt2_ids(trained, gpt2_dir):
    ours = Tokenizer.from_pretrained(gpt2_dir)
    assert ours.vocab_size == trained.vocab_size
    assert ours.token_to_id("!") == 0 and ours.id_to_token(0) == b"!"
    assert ours.end_of_text_id == ours.special_tokens[EOT] == trained.vocab_size - 1
    ids = np.array(gpt2_ids(trained))
    for text in sample_texts()[:60]:
        assert ours.encode(text, allowed_special="all") == \
            ids[trained.encode(text, allowed_special="all")].tolist()
    assert Tokenizer.from_pretrained(gpt2_dir / "vocab.json").spec.token_order.tolist() == \
        ours.spec.token_order.tolist()


def test_gpt2_files_match_hf_tokenizers(gpt2_dir):
    hf = hf_from_gpt2_files(gpt2_dir, [EOT])
    assert_same_ids(Tokenizer.from_pretrained(gpt2_dir),
                    lambda text: hf.encode(text, add_special_tokens=False).ids)


@pytest.fixture(scope="module")
def gpt2_pair(gpt2_dir):
    return Tokenizer.from_pretrained(gpt2_dir), hf_from_gpt2_files(gpt2_dir, [EOT])


@settings(max_examples=200)
@given(st.lists(st.sampled_from(list(" \n\t\r'sdtlvmre0123 abcxyz.,!日本é😀\u3000\u0301") + [EOT])
                | st.characters(exclude_categories=["Cs"]), max_size=40).map("".join))
def test_gpt2_order_matches_hf_on_any_text(gpt2_pair, text):
    ours, hf = gpt2_pair
    ids = ours.encode(text, allowed_special="all")
    assert ids == hf.encode(text, add_special_tokens=False).ids
    assert ours.decode(ids) == text


def test_roberta_order_matches_hf_tokenizers(trained, tmp_path):
    specials = ["<s>", "<pad>", "</s>"]
    ours_trained = with_specials(trained, specials)
    directory = write_gpt2_files(ours_trained, roberta_ids(ours_trained), tmp_path,
                                 added_tokens_json=True)
    ours = Tokenizer.from_pretrained(directory)
    assert ours.special_tokens == {EOT: 0, "<s>": 1, "<pad>": 2, "</s>": 3}
    assert ours.id_to_token(4) == b"!"
    hf = hf_from_gpt2_files(directory, [EOT, *specials])
    assert_same_ids(ours, lambda text: hf.encode(text, add_special_tokens=False).ids,
                    TEXTS + ["<s>hi</s><pad>", f"x<s>{EOT}y"])


def test_shuffled_ids_in_hf_tokenizer_json(trained, tmp_path):
    """Any permutation (merge results not in merge order): HF's tokenizer.json, ours back."""
    ids = np.random.default_rng(0).permutation(trained.vocab_size).tolist()
    write_gpt2_files(trained, ids, tmp_path / "files")
    hf = hf_from_gpt2_files(tmp_path / "files", [EOT])
    hf.save(str(tmp_path / "tokenizer.json"))
    ours = Tokenizer.from_pretrained(tmp_path / "tokenizer.json")
    assert ours.special_tokens == {EOT: ids[-1]}
    assert_same_ids(ours, lambda text: hf.encode(text, add_special_tokens=False).ids)
    with pytest.raises(ValueError, match="tiktoken takes ids as merge ranks"):
        ours.mergeable_ranks()
    # ours saved and loaded keeps the order (version 2), and its HF export gives the same ids
    ours.save(tmp_path / "ours.json")
    document = json.loads((tmp_path / "ours.json").read_text())
    assert document["version"] == 2 and document["token_order"] == \
        ours.spec.token_order.tolist()
    again = Tokenizer.load(tmp_path / "ours.json")
    assert again.spec.token_order.tolist() == ours.spec.token_order.tolist()
    assert again.vocab == ours.vocab and again.merges.tolist() == ours.merges.tolist()
    assert Tokenizer.from_pretrained(tmp_path / "ours.json").vocab == ours.vocab
    (tmp_path / "export").mkdir()
    export(ours, "hf", tmp_path / "export" / "tokenizer.json")
    exported = pytest.importorskip("tokenizers").Tokenizer.from_file(
        str(tmp_path / "export" / "tokenizer.json"))
    assert_same_ids(ours, lambda text: exported.encode(text, add_special_tokens=False).ids, TEXTS)


def test_register_special_tokens_keeps_the_order(gpt2_dir):
    ours = Tokenizer.from_pretrained(gpt2_dir)
    size = ours.vocab_size
    ours.register_special_tokens(["<|im_start|>"])
    assert ours.special_tokens["<|im_start|>"] == size
    assert ours.encode("<|im_start|>!", allowed_special="all") == [size, 0]
    assert ours.decode([size, 0]) == "<|im_start|>!"


# ---- tiktoken --------------------------------------------------------------------------------

def write_tiktoken(ranks: dict[bytes, int], path: Path) -> Path:
    path.write_text("".join(f"{base64.b64encode(token).decode()} {rank}\n"
                            for token, rank in ranks.items()))
    return path


def test_tiktoken_file_matches_tiktoken(trained, gpt2_dir, tmp_path):
    tiktoken = pytest.importorskip("tiktoken")
    from tiktoken.load import load_tiktoken_bpe

    gpt2 = Tokenizer.from_pretrained(gpt2_dir)
    path = write_tiktoken(gpt2.mergeable_ranks(), tmp_path / "gpt2.tiktoken")
    specials = {EOT: gpt2.special_tokens[EOT]}
    ours = Tokenizer.from_tiktoken(path, specials)
    assert ours.vocab == gpt2.vocab and ours.merges.tolist() == gpt2.merges.tolist()
    encoding = tiktoken.Encoding("test", pat_str=GPT2_PATTERN,
                                 mergeable_ranks=load_tiktoken_bpe(str(path)),
                                 special_tokens=specials)
    assert_same_ids(ours, lambda text: encoding.encode(text, allowed_special="all"))
    # and the tiktoken export of a GPT-2-ordered tokenizer is that file
    export(ours, "tiktoken", tmp_path / "exported.tiktoken")
    assert load_tiktoken_bpe(str(tmp_path / "exported.tiktoken")) == load_tiktoken_bpe(str(path))


def test_tiktoken_merges_recovered_from_trained_ranks(trained, tmp_path):
    path = write_tiktoken(trained.mergeable_ranks(), tmp_path / "ours.tiktoken")
    ours = Tokenizer.from_tiktoken(path, trained.special_tokens)
    assert ours.spec.token_order is None
    assert ours.merges.tolist() == trained.merges.tolist()


@pytest.mark.parametrize("lines, message", [
    (["IQ== 0", "not*base64 1"], "line 2"),
    (["IQ== 0", "Ig=="], "line 2"),
    (["IQ== 0", "Ig== x"], "line 2"),
])
def test_bad_tiktoken_lines(tmp_path, lines, message):
    path = tmp_path / "bad.tiktoken"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=message):
        Tokenizer.from_tiktoken(path)


def byte_ranks() -> dict[bytes, int]:
    return {bytes([b]): b for b in range(256)}


def test_tiktoken_ranks_must_be_contiguous(tmp_path):
    ranks = {**byte_ranks(), b"ab": 300}
    with pytest.raises(ValueError, match="id 256 is missing"):
        Tokenizer.from_tiktoken(write_tiktoken(ranks, tmp_path / "gap.tiktoken"))
    # a special token may fill the gap
    ours = Tokenizer.from_tiktoken(tmp_path / "gap.tiktoken",
                                   {f"<{i}>": i for i in range(256, 300)})
    assert ours.encode("ab") == [300]


def test_tiktoken_token_not_decomposable(tmp_path):
    ranks = {**byte_ranks(), b"abc": 256}   # no lower-ranked "ab" or "bc"
    with pytest.raises(ValueError, match="b'abc' \\(rank 256\\) is not the merge of two tokens"):
        Tokenizer.from_tiktoken(write_tiktoken(ranks, tmp_path / "bad.tiktoken"))


def test_tiktoken_missing_byte(tmp_path):
    ranks = {bytes([b]): b for b in range(255)}
    with pytest.raises(ValueError, match="lacks the byte 0xff"):
        Tokenizer.from_tiktoken(write_tiktoken(ranks, tmp_path / "bad.tiktoken"))


# ---- save_pretrained and transformers --------------------------------------------------------

@pytest.mark.parametrize("order", ["ours", "gpt2"])
def test_save_pretrained_loads_in_transformers(trained, gpt2_dir, tmp_path, order):
    transformers = pytest.importorskip("transformers")
    ours = trained if order == "ours" else Tokenizer.from_pretrained(gpt2_dir)
    ours.save_pretrained(tmp_path, model_max_length=1024)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "merges.txt", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json",
        "vocab.json"]
    hf = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    assert hf.eos_token == EOT and hf.eos_token_id == ours.end_of_text_id
    assert hf.model_max_length == 1024
    for text in sample_texts()[:120]:
        ids = ours.encode(text, allowed_special="all")
        assert hf.encode(text) == ids, text[:80]
        assert hf.decode(ids) == text
    # and back: the directory loads as the same tokenizer (through tokenizer.json, then
    # through vocab.json + merges.txt alone)
    assert Tokenizer.from_pretrained(tmp_path).vocab == ours.vocab
    (tmp_path / "tokenizer.json").unlink()
    again = Tokenizer.from_pretrained(tmp_path)
    assert again.vocab == ours.vocab and again.special_tokens == ours.special_tokens


def test_save_pretrained_refuses_naive_mode(tmp_path):
    naive = Tokenizer.train(SAMPLE, 120, mode="naive")
    with pytest.raises(ValueError, match="only byte-mode"):
        naive.save_pretrained(tmp_path)


def test_from_pretrained_reads_our_own_format(trained, tmp_path):
    trained.save(tmp_path / "tokenizer.json")
    assert Tokenizer.from_pretrained(tmp_path).vocab == trained.vocab


# ---- our format: identity order stays version 1 ------------------------------------------------

def test_identity_order_writes_version_1_as_before(trained, tmp_path):
    fixture = (FIXTURES / "tokenizer_v1_byte.json").read_text(encoding="utf-8")
    assert to_json(Tokenizer.load(FIXTURES / "tokenizer_v1_byte.json").spec) == fixture
    trained.save(tmp_path / "t.json")
    document = json.loads((tmp_path / "t.json").read_text())
    assert document["version"] == 1 and "token_order" not in document
    spec = trained.spec
    explicit = TokenizerSpec(spec.mode, None, None, spec.merges, spec.special_tokens,
                             np.arange(spec.vocab_size, dtype=np.int32))
    assert explicit.token_order is None and to_json(explicit) == to_json(spec)


def test_bad_token_order_is_named(trained):
    spec = trained.spec
    order = np.arange(spec.vocab_size, dtype=np.int32)
    order[0] = 1
    with pytest.raises(ValueError, match="token_order.*id 0 is missing"):
        Tokenizer(TokenizerSpec(spec.mode, None, None, spec.merges, spec.special_tokens, order))


# ---- what does not load ------------------------------------------------------------------------

def hf_document(trained) -> dict:
    from llm.tokenizer.export import hf_tokenizer_json

    return hf_tokenizer_json(trained)


@pytest.mark.parametrize("change, message", [
    (lambda d: d["model"].update(type="WordPiece"), "model.type is 'WordPiece'.*WordPiece"),
    (lambda d: d["model"].update(type="Unigram"), "model.type is 'Unigram'"),
    (lambda d: d["pre_tokenizer"].update(add_prefix_space=True), "add_prefix_space is True"),
    (lambda d: d.update(pre_tokenizer={"type": "Metaspace"}), "'Metaspace'.*SentencePiece"),
    (lambda d: d["model"].update(byte_fallback=True), "model.byte_fallback is True"),
    (lambda d: d["model"].update(continuing_subword_prefix="##"), "continuing_subword_prefix"),
    (lambda d: d.update(normalizer={"type": "NFC"}), "normalizer.type is 'NFC'"),
    (lambda d: d.update(post_processor={"type": "TemplateProcessing"}), "post_processor"),
    (lambda d: d["added_tokens"][0].update(lstrip=True), "lstrip is true"),
    (lambda d: d["model"]["merges"].insert(0, "Ġ zzzunknown"), "'zzzunknown' is not a token"),
    (lambda d: d["model"]["vocab"].update(extra=len(d["model"]["vocab"]) + 1),
     "'extra'.* neither a byte, a merge's result nor a special token"),
    (lambda d: d["model"]["vocab"].pop(next(iter(d["model"]["vocab"]))), "lacks the byte"),
])
def test_foreign_hf_tokenizers_are_refused(trained, tmp_path, change, message):
    document = hf_document(trained)
    change(document)
    (tmp_path / "tokenizer.json").write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        Tokenizer.from_pretrained(tmp_path)


def test_hf_sequence_pre_tokenizer_and_pair_merges_load(trained, tmp_path):
    document = hf_document(trained)
    document["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [document["pre_tokenizer"]]}
    document["normalizer"] = {"type": "Sequence", "normalizers": []}
    document["model"]["merges"] = [merge.split(" ") for merge in document["model"]["merges"]]
    (tmp_path / "tokenizer.json").write_text(json.dumps(document), encoding="utf-8")
    ours = Tokenizer.from_pretrained(tmp_path)
    assert ours.spec.token_order is None and ours.merges.tolist() == trained.merges.tolist()


def test_truncated_vocab_json(gpt2_dir, tmp_path):
    text = (gpt2_dir / "vocab.json").read_text(encoding="utf-8")
    (tmp_path / "vocab.json").write_text(text[:len(text) // 2], encoding="utf-8")
    (tmp_path / "merges.txt").write_text((gpt2_dir / "merges.txt").read_text(encoding="utf-8"),
                                         encoding="utf-8")
    with pytest.raises(ValueError, match="not valid JSON"):
        Tokenizer.from_pretrained(tmp_path)
    vocab = json.loads(text)
    for token in list(vocab)[-100:]:
        del vocab[token]
    (tmp_path / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    with pytest.raises(ValueError, match="not in the vocab|not a token of the vocab"):
        Tokenizer.from_pretrained(tmp_path)


def test_merges_with_unknown_tokens(gpt2_dir, tmp_path):
    (tmp_path / "vocab.json").write_text((gpt2_dir / "vocab.json").read_text(encoding="utf-8"),
                                         encoding="utf-8")
    (tmp_path / "merges.txt").write_text("#version: 0.2\nĠ ☃\n", encoding="utf-8")
    with pytest.raises(ValueError, match="merge 0 .*'☃' is not a token of the vocab"):
        Tokenizer.from_pretrained(tmp_path)
    (tmp_path / "merges.txt").write_text("#version: 0.2\nĠ t h\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2"):
        Tokenizer.from_pretrained(tmp_path)


def test_empty_directory_and_tiktoken_hint(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no tokenizer"):
        Tokenizer.from_pretrained(tmp_path)
    (tmp_path / "x.tiktoken").write_text("IQ== 0\n")
    with pytest.raises(ValueError, match="from_tiktoken"):
        Tokenizer.from_pretrained(tmp_path / "x.tiktoken")


def test_added_token_ids_follow_hf_not_the_id_field(trained, tmp_path):
    """HF numbers an added token missing from the model vocab after the vocab, whatever its
    "id" says; from_pretrained gives the id HF gives."""
    tokenizers = pytest.importorskip("tokenizers")
    document = hf_document(trained)
    del document["model"]["vocab"][EOT]
    document["added_tokens"][0]["id"] = 5
    document["added_tokens"].append({**document["added_tokens"][0], "content": "<|x|>", "id": 7})
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    hf = tokenizers.Tokenizer.from_file(str(path))
    ours = Tokenizer.from_pretrained(path)
    assert ours.special_tokens == {EOT: hf.token_to_id(EOT), "<|x|>": hf.token_to_id("<|x|>")}
    assert_same_ids(ours, lambda text: hf.encode(text, add_special_tokens=False).ids,
                    TEXTS + ["a<|x|>b"])
