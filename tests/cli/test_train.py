"""llm/cli/train.py: `llm train` and `llm eval` end to end on a tiny corpus, and bad input."""
import pytest

from llm import cli
from llm.cli import train as train_cli
from llm.model import load
from llm.tokenizer import Tokenizer
from llm.train import evaluate_files, metrics

TINY = ["--n-layer", "1", "--n-head", "2", "--d-model", "16", "--block-size", "16",
        "--batch-size", "4", "--max-iters", "20", "--eval-interval", "10", "--eval-batches", "4",
        "--lr", "0.02", "--warmup-iters", "2"]


def run(capsys, tmp_path, *argv) -> tuple[int, str, str]:
    code = cli.main(["--log-file", str(tmp_path / "llm.log"), "--log-level", "WARNING",
                     *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_train_resume_eval(capsys, tmp_path, corpus):
    out_dir = tmp_path / "run"
    code, out, err = run(capsys, tmp_path, "train", "--data", corpus, "--char", "--out", out_dir,
                         *TINY)
    assert code == 0, err
    assert "step 20: train loss" in out and f"model saved in {out_dir / 'model'}" in out
    assert (out_dir / "loss.svg").is_file() and (out_dir / "checkpoint").is_dir()

    code, out, err = run(capsys, tmp_path, "train", "--out", out_dir, "--resume",
                         "--max-iters", 30)
    assert code == 0, err
    assert "step 30:" in out
    assert metrics.read(out_dir / "metrics.jsonl")[-1]["step"] == 30

    code, out, err = run(capsys, tmp_path, "eval", "--model", out_dir / "model", "--data", corpus)
    assert code == 0, err
    model, tokenizer = load(out_dir / "model")
    expected = evaluate_files(model, tokenizer, [corpus])
    assert out.startswith(f"val loss {expected.loss:.4f} (nats/token), perplexity "
                          f"{expected.perplexity:.3f}, {expected.bits_per_byte:.4f} bits/byte "
                          f"over {expected.tokens:,} tokens ({expected.bytes:,} bytes)")


def test_train_with_a_bpe_tokenizer_and_the_run_log(capsys, tmp_path, corpus):
    Tokenizer.train(corpus.read_text(), 300).save(tmp_path / "tokenizer.json")
    out_dir = tmp_path / "run"
    code = cli.main(["--log-level", "WARNING", "train", "--data", str(corpus), "--tokenizer",
                     str(tmp_path / "tokenizer.json"), "--out", str(out_dir), *TINY])
    assert code == 0
    model, tokenizer = load(out_dir / "model")
    assert model.config.vocab_size == tokenizer.vocab_size == 300
    assert "step 20: train loss" in (out_dir / "train.log").read_text()


@pytest.mark.parametrize("option, tied", [("--tie-embeddings", True),
                                           ("--no-tie-embeddings", False)])
def test_tie_embeddings_option(capsys, tmp_path, corpus, option, tied):
    out_dir = tmp_path / "run"
    code, _, err = run(capsys, tmp_path, "train", "--data", corpus, "--char", "--out", out_dir,
                       *TINY, "--max-iters", 2, option)
    assert code == 0, err
    model, _ = load(out_dir / "model")
    assert model.config.tie_embeddings is tied
    assert ("lm_head.weight" in list(model.params)) is not tied


@pytest.mark.parametrize("argv, message", [
    (["--data", "{tmp}/missing.txt", "--char"], "missing.txt: no such file or directory"),
    (["--data", "{tmp}/empty.txt", "--char"], "empty corpus"),
    (["--data", "{corpus}", "--char", "--block-size", "5000"],
     "fewer than block_size + 1 = 5001"),
    (["--data", "{corpus}"], "choose a tokenizer: --tokenizer FILE"),
    (["--char"], "no data: pass --data"),
    (["--data", "{corpus}", "--char", "--lr", "-1"], "learning rate -1.0"),
    (["--data", "{corpus}", "--char", "--n-head", "3"], "not divisible by n_head=3"),
    (["--resume"], "no checkpoint in"),
    (["--resume", "--char"], "--char: a resumed run keeps its model and tokenizer"),
    (["--data", "{corpus}", "--tokenizer", "{corpus}"], "not a valid tokenizer.json"),
])
def test_bad_input_is_one_line_on_stderr(capsys, tmp_path, corpus, argv, message):
    (tmp_path / "empty.txt").write_text("")
    argv = [a.format(tmp=tmp_path, corpus=corpus) for a in argv]
    tiny = [] if "--resume" in argv else TINY
    code, out, err = run(capsys, tmp_path, "train", "--out", tmp_path / "run", *tiny, *argv)
    assert code == 1 and out == ""
    assert err.startswith("llm: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "run" / "checkpoint").exists()


def test_tokenizer_and_char_exclude_each_other(capsys, tmp_path, corpus):
    with pytest.raises(SystemExit) as exit_info:
        run(capsys, tmp_path, "train", "--data", corpus, "--char", "--tokenizer", corpus,
            "--out", tmp_path / "run")
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_a_run_directory_is_not_overwritten(capsys, tmp_path, corpus):
    assert run(capsys, tmp_path, "train", "--data", corpus, "--char", "--out", tmp_path / "run",
               *TINY)[0] == 0
    code, _, err = run(capsys, tmp_path, "train", "--data", corpus, "--char", "--out",
                       tmp_path / "run", *TINY)
    assert code == 1 and "already holds a run" in err and "--resume" in err
    code, _, err = run(capsys, tmp_path, "train", "--out", tmp_path / "run", "--resume",
                       "--batch-size", 8)
    assert code == 1 and "cannot change batch_size when resuming" in err
    other = tmp_path / "other.txt"
    other.write_text("different text")
    code, _, err = run(capsys, tmp_path, "train", "--out", tmp_path / "run", "--resume",
                       "--data", other)
    assert code == 1 and "leave --data out" in err


def test_an_allocation_too_large_is_one_line_not_a_traceback(capsys, tmp_path, corpus,
                                                             monkeypatch):
    def too_large(*args, **kwargs):
        raise MemoryError("Unable to allocate 36.0 TiB for an array with shape (9895604649984,) "
                          "and data type float32")

    monkeypatch.setattr(train_cli.run, "start", too_large)
    code, out, err = run(capsys, tmp_path, "train", "--data", corpus, "--char", "--out",
                         tmp_path / "run", "--n-layer", 48, "--d-model", 4096)
    assert code == 1 and "Traceback" not in err
    assert err.startswith("llm: error: not enough memory: Unable to allocate 36.0 TiB")


def test_train_init_from_fine_tunes_with_the_models_tokenizer(capsys, tmp_path, corpus):
    code, _, err = run(capsys, tmp_path, "train", "--data", corpus, "--char", "--out",
                       tmp_path / "base", *TINY)
    assert code == 0, err
    base, tokenizer = load(tmp_path / "base" / "model")
    code, out, err = run(capsys, tmp_path, "train", "--data", corpus, "--init-from",
                         tmp_path / "base" / "model", "--out", tmp_path / "ft", "--max-iters",
                         "5", "--batch-size", "4", "--eval-batches", "2")
    assert code == 0, err
    tuned, tuned_tokenizer = load(tmp_path / "ft" / "model")
    assert tuned.config == base.config and tuned_tokenizer.vocab == tokenizer.vocab

    code, _, err = run(capsys, tmp_path, "train", "--data", corpus, "--init-from",
                       tmp_path / "base" / "model", "--out", tmp_path / "x", "--d-model", "32")
    assert code != 0 and "d_model: a fine-tuned model keeps its shape" in err
    with pytest.raises(SystemExit):
        run(capsys, tmp_path, "train", "--data", corpus, "--init-from",
            tmp_path / "base" / "model", "--char", "--out", tmp_path / "x")
    assert "not allowed with argument --init-from" in capsys.readouterr().err
