"""Our safetensors writer/reader: byte layout per the spec, round trip, damaged files."""
import json
import struct

import numpy as np
import pytest

from llm.model.safetensors import load_file, save_file


def sample_tensors():
    rng = np.random.default_rng(0)
    return {"b.weight": rng.standard_normal((3, 5)).astype(np.float32),
            "a.ids": np.arange(7, dtype=np.int32),
            "c.scalar": np.array(2.5, dtype=np.float64)}


def test_file_layout_follows_the_spec(tmp_path):
    path = tmp_path / "t.safetensors"
    save_file(path, sample_tensors(), metadata={"format": "pt"})
    data = path.read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    assert (8 + header_len) % 8 == 0
    header = json.loads(data[8:8 + header_len])
    assert header["__metadata__"] == {"format": "pt"}
    assert header["b.weight"] == {"dtype": "F32", "shape": [3, 5], "data_offsets": [0, 60]}
    assert header["a.ids"] == {"dtype": "I32", "shape": [7], "data_offsets": [60, 88]}
    assert header["c.scalar"]["shape"] == [] and len(data) == 8 + header_len + 96
    np.testing.assert_array_equal(np.frombuffer(data[8 + header_len + 60:][:28], "<i4"),
                                  np.arange(7))


def test_round_trip(tmp_path):
    path = tmp_path / "t.safetensors"
    tensors = sample_tensors()
    save_file(path, tensors, metadata={"k": "v"})
    loaded, metadata = load_file(path)
    assert metadata == {"k": "v"} and list(loaded) == list(tensors)
    for name, tensor in tensors.items():
        assert loaded[name].dtype == tensor.dtype
        np.testing.assert_array_equal(loaded[name], tensor)


def test_the_safetensors_package_reads_our_file_and_we_read_its_file(tmp_path):
    numpy_io = pytest.importorskip("safetensors.numpy")
    ours, theirs = tmp_path / "ours.safetensors", tmp_path / "theirs.safetensors"
    tensors = sample_tensors()
    save_file(ours, tensors)
    for name, tensor in numpy_io.load_file(ours).items():
        np.testing.assert_array_equal(tensor, tensors[name])
    numpy_io.save_file(tensors, theirs, metadata={"format": "np"})
    loaded, metadata = load_file(theirs)
    assert metadata == {"format": "np"}
    for name, tensor in tensors.items():
        np.testing.assert_array_equal(loaded[name], tensor)


@pytest.mark.parametrize("damage, message", [
    (lambda data: data[:-4], "does not fit|belong to no tensor"),
    (lambda data: data[:5], "not a safetensors file"),
    (lambda data: struct.pack("<Q", 10**12) + data[8:], "header length"),
    (lambda data: data[:8] + b"[" + data[9:], "not valid JSON|not a JSON object"),
    (lambda data: data + b"\0\0\0\0", "belong to no tensor"),
])
def test_damaged_files_are_refused_with_a_reason(tmp_path, damage, message):
    path = tmp_path / "t.safetensors"
    save_file(path, sample_tensors())
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError, match=message):
        load_file(path)


def test_unsupported_dtype_is_refused(tmp_path):
    with pytest.raises(ValueError, match="complex64"):
        save_file(tmp_path / "t.safetensors", {"z": np.zeros(2, np.complex64)})
    assert not list(tmp_path.iterdir())
