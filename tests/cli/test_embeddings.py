"""`llm word2vec`: train, similar, analogy, evaluate, and errors as one line."""
import numpy as np
import pytest

from llm import cli
from llm.embeddings import Word2Vec


def run(capsys, tmp_path, *argv):
    code = cli.main(["--log-file", str(tmp_path / "log"), "word2vec", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def corpus(tmp_path):
    rng = np.random.default_rng(0)
    groups = [["red", "green", "blue", "yellow"], ["one", "two", "three", "four"]]
    paragraphs = [" ".join(rng.choice(groups[i % 2], size=8)) for i in range(400)]
    path = tmp_path / "corpus.txt"
    path.write_text("\n\n".join(paragraphs))
    return path


@pytest.mark.parametrize("out_name", ["vectors.bin", "vectors.txt"])
def test_train_then_similar_analogy_and_evaluate(capsys, tmp_path, corpus, out_name):
    out = tmp_path / out_name
    code, printed, _ = run(capsys, tmp_path, "train", "--input", str(corpus), "--dim", "16",
                           "--epochs", "3", "--min-count", "1", "--sample", "0",
                           "--threads", "1", "--out", str(out))
    assert code == 0 and f"{out}: 8 words x 16 dimensions" in printed
    model = Word2Vec.load(out, binary=out_name.endswith(".bin"))
    assert sorted(model.words) == sorted(["red", "green", "blue", "yellow",
                                          "one", "two", "three", "four"])

    code, printed, _ = run(capsys, tmp_path, "similar", "--vectors", str(out), "--topn", "3",
                           "red", "two")
    lines = printed.splitlines()
    assert code == 0 and lines[0] == "red" and lines[4] == "two"
    assert {line.split()[1] for line in lines[1:4]} == {"green", "blue", "yellow"}

    code, printed, _ = run(capsys, tmp_path, "analogy", "--vectors", str(out), "red", "blue",
                           "one")
    assert code == 0 and printed.startswith("red - blue + one\n")

    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("red\tgreen\t9\nred\tone\t1\ntwo\tthree\t8\nblue\tfour\t2\n")
    questions = tmp_path / "q.txt"
    questions.write_text(": colours\nred green blue yellow\n")
    code, printed, _ = run(capsys, tmp_path, "evaluate", "--vectors", str(out),
                           "--analogies", str(questions), "--pairs", str(pairs))
    assert code == 0 and "of 1 questions; 0 skipped" in printed
    assert "Spearman" in printed and "(4 pairs; 0 skipped" in printed


def test_train_on_tokenizer_tokens(capsys, tmp_path, corpus):
    from llm.tokenizer import Tokenizer
    tokenizer_path = tmp_path / "tokenizer.json"
    Tokenizer.train(corpus, 300, mode="byte").save(tokenizer_path)
    out = tmp_path / "tokens.txt"
    code, printed, _ = run(capsys, tmp_path, "train", "--input", str(corpus), "--tokenizer",
                           str(tokenizer_path), "--dim", "8", "--epochs", "1", "--min-count",
                           "1", "--out", str(out))
    assert code == 0
    assert "Ġgreen" in Word2Vec.load(out).words   # stored in GPT-2's byte alphabet ...
    # ... but typed and shown as the tokens' text
    code, printed, err = run(capsys, tmp_path, "similar", "--vectors", str(out), "--topn", "2",
                             " green")
    lines = printed.splitlines()
    assert code == 0 and lines[0] == "' green'" and "Ġ" not in printed, err
    assert all(line.split(maxsplit=1)[1].startswith(("'", '"')) for line in lines[1:3])
    code, printed, _ = run(capsys, tmp_path, "analogy", "--vectors", str(out), " red", " blue",
                           "Ġone")   # the stored spelling is accepted too
    assert code == 0 and printed.startswith("' red' - ' blue' + ' one'\n")


@pytest.mark.parametrize("argv, message", [
    (["similar", "--vectors", "{tmp}/missing.bin", "red"], "missing.bin"),
    (["similar", "--vectors", "{corpus}", "red"], "not a word2vec file"),
    (["train", "--input", "{tmp}/empty.txt", "--out", "{tmp}/v.bin"], "corpus is empty"),
    (["train", "--input", "{corpus}", "--dim", "0", "--out", "{tmp}/v.bin"], "dim=0"),
    (["evaluate", "--vectors", "{tmp}/v.bin"], "pass --analogies FILE, --pairs FILE"),
])
def test_errors_are_one_line_and_write_nothing(capsys, tmp_path, corpus, argv, message):
    (tmp_path / "empty.txt").write_text("  \n\n ... \n")
    argv = [a.format(tmp=tmp_path, corpus=corpus) for a in argv]
    code, _, err = run(capsys, tmp_path, *argv)
    assert code == 1 and err.count("\n") == 1 and message in err
    assert not (tmp_path / "v.bin").exists()


def test_unknown_word_is_one_line(capsys, tmp_path):
    Word2Vec(["a", "b"], np.eye(2, dtype=np.float32)).save(tmp_path / "v.bin")
    code, _, err = run(capsys, tmp_path, "similar", "--vectors", str(tmp_path / "v.bin"), "zebra")
    assert code == 1 and "'zebra' is not in the vocabulary" in err
