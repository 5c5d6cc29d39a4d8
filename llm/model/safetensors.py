"""Read and write the safetensors format (our own code, to the published spec).

Layout: 8 bytes little-endian u64 N, the header length; N bytes of UTF-8 JSON
`{"<name>": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
"__metadata__": {"<key>": "<string>"}}`, padded with spaces so the data starts 8-byte aligned;
then the tensors' raw little-endian bytes, row-major, with no holes: offsets are relative to the
start of the data and together cover it exactly.
"""
import json
import os
import struct
from pathlib import Path

import numpy as np

from llm.util.atomic import atomic_write
from llm.util.json_file import parse_json

DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
          "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}
DTYPE_NAMES = {np.dtype(dtype): name for name, dtype in DTYPES.items()}
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
    buffer. A truncated or foreign file raises ValueError saying what is wrong."""
    path = Path(path)
    data = path.read_bytes()
    if len(data) < 8:
        raise ValueError(f"{path}: not a safetensors file (only {len(data)} bytes)")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > min(MAX_HEADER_BYTES, len(data) - 8):
        raise ValueError(f"{path}: not a safetensors file, or truncated (header length "
                         f"{header_len} but the file has {len(data)} bytes)")
    header = parse_json(data[8:8 + header_len], f"{path}: the safetensors header")
    if not isinstance(header, dict):
        raise ValueError(f"{path}: not a safetensors file (header is not a JSON object)")
    metadata = header.pop("__metadata__", None) or {}
    buffer = memoryview(data)[8 + header_len:]
    tensors = {}
    spans = []
    for name, entry in header.items():
        try:
            dtype = np.dtype(DTYPES[entry["dtype"]]).newbyteorder("<")
            shape = tuple(int(n) for n in entry["shape"])
            begin, end = (int(n) for n in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{path}: tensor {name!r} has a malformed or unsupported header entry "
                             f"{entry!r}") from None
        count = int(np.prod(shape, dtype=np.int64))
        if not 0 <= begin <= end <= len(buffer) or end - begin != count * dtype.itemsize:
            raise ValueError(f"{path}: tensor {name!r} with shape {shape} ({entry['dtype']}) does "
                             f"not fit its data_offsets [{begin}, {end}] in {len(buffer)} data "
                             "bytes (a truncated file?)")
        tensors[name] = np.frombuffer(buffer, dtype=dtype, count=count, offset=begin).reshape(shape)
        spans.append((begin, end))
    covered = 0
    for begin, end in sorted(spans):
        if begin != covered:
            raise ValueError(f"{path}: tensor data has a hole or an overlap at byte {covered}")
        covered = end
    if covered != len(buffer):
        raise ValueError(f"{path}: {len(buffer) - covered} data bytes belong to no tensor")
    return tensors, metadata
