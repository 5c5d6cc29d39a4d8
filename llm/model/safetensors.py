"""Read and write the safetensors format (our own code, to the published spec).

Layout: 8 bytes little-endian u64 N, the header length; N bytes of UTF-8 JSON
`{"<name>": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
"__metadata__": {"<key>": "<string>"}}`, padded with spaces so the data starts 8-byte aligned;
then the tensors' raw little-endian bytes, row-major, with no holes: offsets are relative to the
start of the data and together cover it exactly.

Reading: load_file for small files (everything at once); SafetensorsFile to read a model's weights
tensor by tensor into its parameter buffer (F32 read in place, F16 and BF16 converted).
"""
import json
import math
import os
import struct
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np

from llm.util.atomic import atomic_write
from llm.util.json_file import parse_json

DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
          "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}
DTYPE_NAMES = {np.dtype(dtype): name for name, dtype in DTYPES.items()}
# what each dtype's bytes are read as: bfloat16 (read, not written) has no NumPy type
STORAGE_DTYPES = {**DTYPES, "BF16": np.uint16}
FLOAT_DTYPES = ("F32", "F16", "BF16", "F64")
CHUNK_BYTES = 1 << 22  # scratch for converting a tensor that is not float32 as it is read
ALIGNMENT = 8
MAX_HEADER_BYTES = 100_000_000  # the reference implementation's limit


def save_file(path: str | os.PathLike, tensors: dict[str, np.ndarray],
              metadata: dict[str, str] | None = None) -> None:
    """Write tensors (in the dict's order) and string metadata to path, atomically (a temporary
    file in the same directory, then a rename)."""
    header: dict = {}
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise ValueError("safetensors metadata keys and values must all be strings")
        header["__metadata__"] = dict(metadata)
    arrays = []
    offset = 0
    for name, tensor in tensors.items():
        array = np.require(tensor, requirements="C")  # (ascontiguousarray makes 0-d 1-d)
        if array.dtype not in DTYPE_NAMES:
            raise ValueError(f"tensor {name!r} has dtype {array.dtype}, which safetensors cannot "
                             f"store here; use one of {sorted(DTYPES)}")
        array = array.astype(array.dtype.newbyteorder("<"), copy=False)
        header[name] = {"dtype": DTYPE_NAMES[array.dtype.newbyteorder("=")],
                        "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
        arrays.append(array)
    header_bytes = json.dumps(header, separators=(",", ":")).encode()
    header_bytes += b" " * (-(8 + len(header_bytes)) % ALIGNMENT)
    with atomic_write(path) as file:
        file.write(struct.pack("<Q", len(header_bytes)))
        file.write(header_bytes)
        for array in arrays:
            file.write(memoryview(array.reshape(-1)).cast("B"))


def load_file(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(tensors, metadata) read from path; tensors in file order, each a read-only view of one
    buffer (BF16 tensors, which NumPy has no type for, are float32 copies). A truncated or
    foreign file raises ValueError saying what is wrong. To read tensors into arrays of one's
    own without holding the file in memory, use SafetensorsFile."""
    file = SafetensorsFile(path)
    with open(file.path, "rb") as stream:
        stream.seek(file.data_start)
        buffer = stream.read(file.data_size)
    if len(buffer) != file.data_size:
        raise ValueError(f"{file.path}: the file changed while it was read")
    tensors = {}
    for name, entry in file.tensors.items():
        array = np.frombuffer(buffer, dtype=entry.storage, count=entry.count,
                              offset=entry.begin).reshape(entry.shape)
        tensors[name] = bfloat16_to_float32(array) if entry.dtype == "BF16" else array
    return tensors, file.metadata


class TensorEntry(NamedTuple):
    """One tensor's header entry: dtype name ("F32", "BF16", ...), its shape, the NumPy type
    its bytes are read as (`storage`; uint16 for BF16), element count and byte offsets relative
    to the start of the data."""
    dtype: str
    shape: tuple[int, ...]
    storage: np.dtype
    count: int
    begin: int
    end: int


class SafetensorsFile:
    """A safetensors file whose header has been read and checked (`tensors`, name -> TensorEntry
    in file order; `metadata`); tensor data is read on demand, straight into arrays the caller
    owns (read_into), so that a model's weights are never in memory twice."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        with open(self.path, "rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            if size < 8:
                raise ValueError(f"{self.path}: not a safetensors file (only {size} bytes)")
            (header_len,) = struct.unpack("<Q", stream.read(8))
            if header_len > min(MAX_HEADER_BYTES, size - 8):
                raise ValueError(f"{self.path}: not a safetensors file, or truncated (header "
                                 f"length {header_len} but the file has {size} bytes)")
            header_bytes = stream.read(header_len)
        header = parse_json(header_bytes, f"{self.path}: the safetensors header")
        if not isinstance(header, dict):
            raise ValueError(f"{self.path}: not a safetensors file (header is not a JSON object)")
        self.metadata = header.pop("__metadata__", None) or {}
        self.data_start = 8 + header_len
        self.data_size = size - self.data_start
        self.tensors = {name: self._entry(name, entry) for name, entry in header.items()}
        covered = 0
        for entry in sorted(self.tensors.values(), key=lambda entry: (entry.begin, entry.end)):
            if entry.begin != covered:
                raise ValueError(f"{self.path}: tensor data has a hole or an overlap at byte "
                                 f"{covered}")
            covered = entry.end
        if covered != self.data_size:
            raise ValueError(f"{self.path}: {self.data_size - covered} data bytes belong to no "
                             "tensor")

    def _entry(self, name: str, entry) -> TensorEntry:
        try:
            storage = np.dtype(STORAGE_DTYPES[entry["dtype"]]).newbyteorder("<")
            shape = tuple(int(n) for n in entry["shape"])
            begin, end = (int(n) for n in entry["data_offsets"])
            if min(shape, default=0) < 0:
                raise ValueError
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{self.path}: tensor {name!r} has a malformed or unsupported "
                             f"header entry {entry!r}") from None
        count = math.prod(shape)
        if not 0 <= begin <= end <= self.data_size or end - begin != count * storage.itemsize:
            raise ValueError(f"{self.path}: tensor {name!r} with shape {shape} ({entry['dtype']}) "
                             f"does not fit its data_offsets [{begin}, {end}] in "
                             f"{self.data_size} data bytes (a truncated file?)")
        return TensorEntry(entry["dtype"], shape, storage, count, begin, end)

    def read_into(self, name: str, out: np.ndarray) -> None:
        """Write tensor `name` (F32, F16, BF16 or F64) into out, a C-contiguous float32 array
        of its shape: F32 bytes are read straight into out, the others converted a chunk at a
        time (chunks())."""
        entry = self.tensors[name]
        if entry.dtype not in FLOAT_DTYPES:
            raise ValueError(f"{self.path}: tensor {name!r} is {entry.dtype}; expected floating "
                             f"point weights ({', '.join(FLOAT_DTYPES)})")
        if out.dtype != np.float32 or out.shape != entry.shape or not out.flags.c_contiguous:
            raise ValueError(f"{self.path}: tensor {name!r} {entry.shape} cannot be read into a "
                             f"{out.dtype} array of shape {out.shape}")
        flat = out.reshape(-1)
        if entry.dtype != "F32":
            for _ in self.chunks(name, out=flat):
                pass
            return
        with open(self.path, "rb", buffering=0) as stream:
            stream.seek(self.data_start + entry.begin)
            self._read_exactly(stream, memoryview(flat).cast("B"))
        if sys.byteorder == "big":
            flat.byteswap(inplace=True)

    def chunks(self, name: str, out: np.ndarray | None = None
               ) -> Iterator[tuple[int, np.ndarray]]:
        """(start, values) pieces of floating point tensor `name` in order: values, float32, are
        its flat elements from start on, CHUNK_BYTES of them at most: a scratch array reused
        for the next piece, or out[start:...] when out, (count,) float32, is given (the pieces
        converted straight into it)."""
        entry = self.tensors[name]
        if entry.dtype not in FLOAT_DTYPES:
            raise ValueError(f"{self.path}: tensor {name!r} is {entry.dtype}; expected floating "
                             f"point weights ({', '.join(FLOAT_DTYPES)})")
        step = max(1, CHUNK_BYTES // 4)
        raw = np.empty(min(step, entry.count), entry.storage)
        scratch = np.empty(raw.size, np.float32) if out is None else None
        with open(self.path, "rb", buffering=0) as stream:
            stream.seek(self.data_start + entry.begin)
            for start in range(0, entry.count, step):
                size = min(step, entry.count - start)
                self._read_exactly(stream, memoryview(raw[:size]).cast("B"))
                values = scratch[:size] if out is None else out[start:start + size]
                if entry.dtype == "BF16":
                    bfloat16_to_float32(raw[:size], out=values)
                else:
                    np.copyto(values, raw[:size], casting="unsafe")
                yield start, values

    def _read_exactly(self, stream, buffer: memoryview) -> None:
        done = 0
        while done < len(buffer):
            count = stream.readinto(buffer[done:])
            if not count:
                raise ValueError(f"{self.path}: the file ended early (changed while read?)")
            done += count


def bfloat16_to_float32(bits: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The float32 values of bfloat16 numbers given as their uint16 bits (a bfloat16 is the
    upper half of a float32: shifting its bits 16 to the left gives that float32 exactly)."""
    if out is None:
        out = np.empty(bits.shape, np.float32)
    np.left_shift(bits, 16, out=out.view(np.uint32), dtype=np.uint32)
    return out


def read_weights(targets: Mapping[str, np.ndarray],
                 sources: Mapping[str, tuple[SafetensorsFile, str]]) -> None:
    """Fill each of targets (name -> C-contiguous float32 array, e.g. a view of a model's
    parameter buffer) from its source (the file, the tensor's name in it), one tensor at a
    time; a tensor of another shape, or one holding NaN or infinite values, is a ValueError."""
    for name, out in targets.items():
        file, key = sources[name]
        shape = file.tensors[key].shape
        if shape != out.shape:
            raise ValueError(f"{file.path}: {key} has shape {shape}, config.json implies "
                             f"{out.shape}")
        file.read_into(key, out)
        # max and min are NaN or infinite when any value is, and make no copy of the tensor
        if out.size and not (np.isfinite(out.max()) and np.isfinite(out.min())):
            raise ValueError(f"{file.path}: {key} holds NaN or infinite values; the weights "
                             "were saved from a diverged model (use an earlier checkpoint)")
