"""Chat training: conversation files (.json/.jsonl) given as data train on the chat template's
rendering with targets only on the assistant's turns (llm/train/loader.py target masks,
llm/train/run.py), resume, and the trained model chats."""
import json
from dataclasses import replace

import numpy as np
import pytest

from llm import cli
from llm.data.chat_template import ChatTemplate
from llm.generate.chat import DEFAULT_SAMPLING, ChatSession
from llm.model import load
from llm.train import loader, metrics

TINY = ["--n-layer", "1", "--n-head", "2", "--d-model", "16", "--block-size", "24",
        "--batch-size", "4", "--max-iters", "20", "--eval-interval", "10", "--eval-batches", "4",
        "--lr", "0.02", "--warmup-iters", "2"]


@pytest.fixture
def chats(tmp_path):
    """A JSONL file of 40 short conversations: the assistant repeats the user's word twice."""
    words = ["lamp", "moon", "river", "apple", "bird"]
    rng = np.random.default_rng(0)
    lines = []
    for word in rng.choice(words, 40):
        turns = [{"from": "human", "value": f"say {word}"},
                 {"from": "gpt", "value": f"{word} {word}"}]
        if rng.random() < 0.5:
            turns.insert(0, {"from": "system", "value": "echo twice"})
        lines.append(json.dumps({"conversations": turns}))
    path = tmp_path / "chats.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_document_windows_count_only_the_flagged_targets():
    documents = [np.arange(1, 31), np.arange(40, 45), np.arange(50, 53)]
    target_masks = [np.arange(30) % 3 == 0, np.zeros(5), np.array([0, 0, 1])]
    docs_loader = loader.DocumentLoader(documents, 8, 16, seed=1, target_masks=target_masks)
    flagged = {int(token) for doc, mask in zip(documents, target_masks)
               for token in doc[np.asarray(mask) != 0]}
    for _ in range(20):
        batch = docs_loader.next_batch()
        assert batch.mask.any()
        real = batch.padding_mask == 1
        counted = batch.mask == 1
        assert not (counted & ~real).any()
        # a real target counts exactly when its token is flagged
        assert all((int(t) in flagged) == c for t, c in zip(batch.targets[real], counted[real]))
    with pytest.raises(ValueError, match="no target to learn"):
        loader.DocumentLoader(documents[1:2], 8, 4, seed=1, target_masks=[np.eye(5)[0]])
    with pytest.raises(ValueError, match="2 target masks for 3 documents"):
        loader.DocumentLoader(documents, 8, 4, seed=1, target_masks=target_masks[:2])


def test_a_batch_without_a_counted_target_is_drawn_again():
    """One document's windows hold targets only near its end: every batch still counts some."""
    document = np.arange(100)
    mask = np.zeros(100)
    mask[-2:] = 1
    docs_loader = loader.DocumentLoader([document], 8, 1, seed=3, target_masks=[mask])
    for _ in range(10):
        batch = docs_loader.next_batch()
        assert batch.mask.sum() >= 1 and batch.targets[0, -1] >= 91


def run(capsys, tmp_path, *argv):
    code = cli.main(["--log-file", str(tmp_path / "llm.log"), "--log-level", "WARNING",
                     *map(str, argv)])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_train_on_conversations_resume_and_chat(capsys, tmp_path, chats):
    out_dir = tmp_path / "run"
    run(capsys, tmp_path, "train", "--data", chats, "--char", "--out", out_dir, *TINY)
    records = metrics.read(out_dir / "metrics.jsonl")
    assert records[-1]["train_loss"] < records[0]["train_loss"]
    run(capsys, tmp_path, "train", "--out", out_dir, "--resume", "--max-iters", 30)
    assert metrics.read(out_dir / "metrics.jsonl")[-1]["step"] == 30
    model, tokenizer = load(out_dir / "model")
    template = ChatTemplate(tokenizer)           # the chat tokens were saved with the model
    assert model.config.vocab_size == tokenizer.vocab_size
    assert set("sayechotwice lampmoon") <= set(tokenizer.alphabet)
    session = ChatSession(model, tokenizer, max_new_tokens=8,
                          sampling=replace(DEFAULT_SAMPLING, seed=0))
    reply = "".join(session.reply("say moon"))
    assert len(session.exchanges) == 1 and session.exchanges[0][1].text == reply
    assert template.end_id not in tokenizer.encode(reply)


def test_conversation_and_text_files_do_not_mix(capsys, tmp_path, chats):
    text = tmp_path / "notes.txt"
    text.write_text("plain text\n")
    code = cli.main(["--log-file", str(tmp_path / "llm.log"), "train", "--data", str(chats),
                     str(text), "--char", "--out", str(tmp_path / "run")])
    assert code == 1 and "mixes conversation files" in capsys.readouterr().err
