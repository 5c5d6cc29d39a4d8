"""`llm export` (llm/cli/export.py) and Hugging Face GPT-2 directories everywhere a model is
taken: generate, eval, train --init-from, and back to our format bit for bit."""
import json

import numpy as np
import pytest

from llm.cli import main
from llm.model import GPT, GPTConfig, load
from llm.model.safetensors import load_file
from llm.tokenizer import Tokenizer

TEXT = "The cat sat on the mat. Le chat était là. Der Hund schläft. " * 30


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """Our model directory: a byte-level tokenizer and a small untied model."""
    tokenizer = Tokenizer.train(TEXT, 320)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=32, n_layer=2, n_head=2,
                          d_model=16, tie_embeddings=False, seed=4))
    directory = tmp_path_factory.mktemp("ours")
    model.save(directory, tokenizer)
    return directory


@pytest.fixture(scope="module")
def hf_dir(model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("hf") / "gpt2"
    assert main(["export", "--model", str(model_dir), "--format", "hf", "--out", str(out)]) == 0
    return out


def test_export_writes_a_hugging_face_gpt2_directory(hf_dir):
    config = json.loads((hf_dir / "config.json").read_text())
    assert config["model_type"] == "gpt2" and "format_version" not in config
    for name in ("model.safetensors", "tokenizer.json", "vocab.json", "merges.txt",
                 "tokenizer_config.json"):
        assert (hf_dir / name).is_file(), name


def test_transformers_loads_the_export_and_gives_our_logits(model_dir, hf_dir):
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    model, tokenizer = load(model_dir)
    theirs = transformers.AutoModelForCausalLM.from_pretrained(hf_dir)
    their_tokenizer = transformers.AutoTokenizer.from_pretrained(hf_dir)
    text = "Le chat sat on the Hund."
    ids = tokenizer.encode(text)
    assert their_tokenizer(text)["input_ids"] == ids
    with torch.no_grad():
        logits = theirs(torch.tensor([ids])).logits.numpy()
    np.testing.assert_allclose(logits, model.forward(np.array([ids])), atol=1e-4)


def test_generate_and_eval_take_the_hf_directory(model_dir, hf_dir, tmp_path, capsys):
    corpus = tmp_path / "text.txt"
    corpus.write_text(TEXT)
    outputs = []
    for directory in (model_dir, hf_dir):
        assert main(["generate", "--model", str(directory), "--prompt", "The cat",
                     "--max-new-tokens", "20", "--temperature", "0", "--past-end-of-text"]) == 0
        assert main(["eval", "--model", str(directory), "--data", str(corpus)]) == 0
        outputs.append(capsys.readouterr().out.split(" in ")[0])   # the time differs
    assert outputs[0] == outputs[1] and "bits/byte" in outputs[0]


def test_hf_to_ours_to_hf_is_bit_for_bit(hf_dir, tmp_path, capsys):
    ours, again = tmp_path / "ours", tmp_path / "again"
    assert main(["export", "--model", str(hf_dir), "--format", "llm", "--out", str(ours)]) == 0
    assert main(["export", "--model", str(ours), "--format", "hf", "--out", str(again)]) == 0
    first, _ = load_file(hf_dir / "model.safetensors")
    second, _ = load_file(again / "model.safetensors")
    assert first.keys() == second.keys()
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])
    assert (json.loads((hf_dir / "config.json").read_text()) ==
            json.loads((again / "config.json").read_text()))
    assert (hf_dir / "tokenizer.json").read_text() == (again / "tokenizer.json").read_text()


def test_fine_tuning_an_hf_directory(hf_dir, tmp_path, capsys):
    corpus = tmp_path / "text.txt"
    corpus.write_text(TEXT)
    assert main(["--log-file", str(tmp_path / "log"), "train", "--data", str(corpus),
                 "--init-from", str(hf_dir), "--out", str(tmp_path / "ft"), "--block-size",
                 "16", "--max-iters", "3", "--batch-size", "2", "--eval-batches", "1"]) == 0
    tuned, tokenizer = load(tmp_path / "ft" / "model")
    base, hf_tokenizer = load(hf_dir)
    assert tuned.config.block_size == 16 and tuned.config.n_layer == base.config.n_layer
    assert tokenizer.vocab == hf_tokenizer.vocab


def test_export_refuses_what_it_cannot_write(model_dir, hf_dir, tmp_path, capsys):
    assert main(["export", "--model", str(model_dir), "--out", str(hf_dir)]) == 1
    assert "not an empty directory" in capsys.readouterr().err
    char_dir = tmp_path / "char"
    char = Tokenizer.train(TEXT, 80, mode="naive")
    GPT(GPTConfig(vocab_size=char.vocab_size, block_size=8, n_layer=1, n_head=1,
                  d_model=8)).save(char_dir, char)
    assert main(["export", "--model", str(char_dir), "--out", str(tmp_path / "x")]) == 1
    assert "naive" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()   # refused before anything was written
