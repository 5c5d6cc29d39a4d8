"""Fuzzing the readers: every file a user can hand us — tokenizer.json, config.json,
trainer_state.json, safetensors, word2vec text and binary, conversations — damaged at the byte
level (cut, bytes changed, inserted, deleted) or at the JSON level (a value replaced by any JSON,
a key dropped) is either read or refused with a ValueError (a message naming the file); never
another exception, a hang or a crash.

The budget is short in CI (FUZZ_EXAMPLES examples a reader); LLM_FUZZ_EXAMPLES=N in the
environment runs N a reader, e.g. `LLM_FUZZ_EXAMPLES=20000 python -m pytest
tests/test_fuzz_readers.py` (a few minutes a reader).
"""
import json
import os
import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm.data.conversations import load_conversations
from llm.embeddings.formats import load_word2vec, save_word2vec
from llm.model import GPT, GPTConfig, safetensors
from llm.tokenizer import Tokenizer
from llm.train import TrainConfig, resume, start
from llm.train.char_tokenizer import char_tokenizer

FUZZ_EXAMPLES = int(os.environ.get("LLM_FUZZ_EXAMPLES", "40"))
fuzz = settings(max_examples=FUZZ_EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                               max_size=4),
    max_leaves=12)


@st.composite
def damaged_bytes(draw, data: bytes) -> bytes:
    """data with a few byte-level edits: cut short, a byte changed, bytes inserted or deleted."""
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        edit = draw(st.sampled_from(["cut", "change", "insert", "delete"]))
        if edit == "cut":
            del data[at:]
        elif edit == "change" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[at:at + draw(st.integers(1, 16))]
    return bytes(data)


@st.composite
def damaged_json(draw, document):
    """document with a value somewhere replaced by any JSON value, or a key dropped."""
    document = json.loads(json.dumps(document))
    holder, key = None, None
    node = document
    while isinstance(node, (dict, list)) and node and draw(st.booleans()):
        keys = list(node) if isinstance(node, dict) else range(len(node))
        holder, key = node, draw(st.sampled_from(list(keys)))
        node = node[key]
    if holder is None:
        return draw(JSON_VALUES)
    if isinstance(holder, dict) and draw(st.booleans()):
        del holder[key]
    else:
        holder[key] = draw(JSON_VALUES)
    return document


def damaged_file(data: bytes, json_document=None):
    """Either kind of damage: bytes, or (for JSON files) JSON values."""
    kinds = [damaged_bytes(data)]
    if json_document is not None:
        kinds.append(damaged_json(json_document).map(lambda d: json.dumps(d).encode()))
    return st.one_of(kinds)


def read_or_refuse(read, path, about_other_files: bool = False) -> None:
    """The property: read(path) returns, or raises a ValueError that names the file.
    about_other_files: the file names others (a run's data), which may then be the ones refused
    (a ValueError or FileNotFoundError naming them)."""
    try:
        read(path)
    except FileNotFoundError:
        if not about_other_files:
            raise
    except ValueError as error:
        assert about_other_files or path.name in str(error) or str(path.parent) in str(error), \
            error


# ---------------------------------------------------------------- the files

@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """One valid file of every kind, and a model directory and a run to damage."""
    root = tmp_path_factory.mktemp("valid")
    text = "".join(f"the cat sat on mat {i}; a dog ran.\n" for i in range(60))
    (root / "corpus.txt").write_text(text)
    tokenizer = Tokenizer.train(root / "corpus.txt", 270)
    tokenizer.save(root / "tokenizer.json")
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=8, n_layer=1, n_head=2,
                          d_model=8))
    model.save(root / "model", tokenizer)
    safetensors.save_file(root / "weights.safetensors",
                          {"a": np.arange(6, dtype=np.float32).reshape(2, 3),
                           "b": np.ones(4, np.float32)}, {"note": "x"})
    words, vectors = ["cat", "dog", "mat"], np.arange(12, dtype=np.float32).reshape(3, 4)
    save_word2vec(root / "vectors.txt", words, vectors, binary=False)
    save_word2vec(root / "vectors.bin", words, vectors, binary=True)
    chats = [{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}]
    (root / "chats.json").write_text(json.dumps(chats))
    (root / "chats.jsonl").write_text("\n".join(json.dumps(c) for c in chats * 2))
    start([root / "corpus.txt"], root / "run", {"n_layer": 1, "n_head": 2, "d_model": 8,
                                                 "block_size": 8},
          TrainConfig(batch_size=2, max_iters=2, eval_interval=2, eval_batches=1),
          tokenizer=char_tokenizer([text])).run()
    return root


def write_damaged(tmp_path, source, damaged: bytes):
    path = tmp_path / source.name
    path.write_bytes(damaged)
    return path


def damaged_copy(directory, copy, name: str, damaged: bytes):
    """A fresh copy of directory in which the file `name` (relative) holds damaged; its path."""
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(directory, copy)
    (copy / name).write_bytes(damaged)
    return copy / name


JSON_FILES = {"tokenizer.json": Tokenizer.load, "chats.json": load_conversations,
              "chats.jsonl": load_conversations}


@pytest.mark.parametrize("name", list(JSON_FILES))
def test_damaged_json_files_are_read_or_refused(files, tmp_path, name):
    data = (files / name).read_bytes()
    document = json.loads(data) if name.endswith(".json") else None

    @fuzz
    @given(damaged=damaged_file(data, document))
    def check(damaged):
        read_or_refuse(JSON_FILES[name], write_damaged(tmp_path, files / name, damaged))

    check()


@pytest.mark.parametrize("name, binary", [("vectors.txt", False), ("vectors.bin", True),
                                          ("vectors.bin", None)])
def test_damaged_word2vec_files_are_read_or_refused(files, tmp_path, name, binary):
    @fuzz
    @given(damaged=damaged_file((files / name).read_bytes()))
    def check(damaged):
        read_or_refuse(lambda path: load_word2vec(path, binary=binary),
                       write_damaged(tmp_path, files / name, damaged))

    check()


def test_damaged_safetensors_are_read_or_refused(files, tmp_path):
    data = (files / "weights.safetensors").read_bytes()
    header_len = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + header_len])

    def with_header(document) -> bytes:
        encoded = json.dumps(document).encode()
        return len(encoded).to_bytes(8, "little") + encoded + data[8 + header_len:]

    @fuzz
    @given(damaged=st.one_of(damaged_bytes(data), damaged_json(header).map(with_header)))
    def check(damaged):
        read_or_refuse(safetensors.load_file,
                       write_damaged(tmp_path, files / "weights.safetensors", damaged))

    check()


@pytest.mark.parametrize("name", ["config.json", "model.safetensors", "tokenizer.json"])
def test_a_damaged_model_directory_is_read_or_refused(files, tmp_path, name):
    from llm.model import load

    source = files / "model" / name
    document = json.loads(source.read_bytes()) if name.endswith(".json") else None

    @fuzz
    @given(damaged=damaged_file(source.read_bytes(), document))
    def check(damaged):
        read_or_refuse(lambda path: load(path.parent),
                       damaged_copy(files / "model", tmp_path / "model", name, damaged))

    check()


def test_a_damaged_trainer_state_is_resumed_or_refused(files, tmp_path):
    source = files / "run" / "checkpoint" / "trainer_state.json"
    document = json.loads(source.read_bytes())

    @fuzz
    @given(damaged=damaged_file(source.read_bytes(), document))
    def check(damaged):
        run_dir = tmp_path / "run"
        read_or_refuse(lambda path: resume(run_dir),
                       damaged_copy(files / "run", run_dir, "checkpoint/trainer_state.json",
                                    damaged), about_other_files=True)

    check()
