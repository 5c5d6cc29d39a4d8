"""Loading a GPT-2 124M-shaped model (12 layers, 12 heads, d_model 768, vocabulary 50,257,
1,024 positions; random weights) from safetensors: wall time and peak resident memory against
the float32 weights' size (498 MB), each load in a fresh process. Ours: GPT.from_pretrained on
the Hugging Face directory save_pretrained wrote (F32) and on a BF16 copy of it, and GPT.load on
our own directory; the peer, when transformers is installed: GPT2LMHeadModel.from_pretrained on
the same directories (dtype float32, as ours).

    python -m benchmarks.test_load_bench          # the table
    python -m pytest benchmarks/test_load_bench.py -s

Peak memory is the process's VmHWM (Linux) less its resident size before the load: ru_maxrss
would do but for Linux carrying the parent's resident size over to a child at exec. The files
are in the page cache (just written), so the times are those of a warm load.
"""
import json
import statistics
import struct
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

from llm.model import GPT, GPTConfig

ROOT = Path(__file__).resolve().parent.parent
GPT2_124M = GPTConfig(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, d_model=768)
ROUNDS = 3

MEASURE = textwrap.dedent("""
    import sys, time

    def status(key):
        with open("/proc/self/status") as file:
            return next(int(line.split()[1]) * 1024 for line in file if line.startswith(key))

    loader, directory = sys.argv[1], sys.argv[2]
    if loader == "transformers":
        import torch
        from transformers import GPT2LMHeadModel
        load = lambda: GPT2LMHeadModel.from_pretrained(directory, dtype=torch.float32)
    else:
        from llm.model import GPT
        load = (lambda: GPT.load(directory)) if loader == "ours-own" else \\
            (lambda: GPT.from_pretrained(directory))
    before = status("VmRSS:")
    start = time.perf_counter()
    model = load()
    print(time.perf_counter() - start, status("VmHWM:") - before)
""")


def write_bf16(source: Path, directory: Path) -> None:
    """A copy of the Hugging Face directory source with its weights as bfloat16 (rounded to
    nearest even), written by hand: NumPy has no bfloat16 type for our writer."""
    from llm.model.safetensors import load_file

    directory.mkdir()
    (directory / "config.json").write_text((source / "config.json").read_text())
    tensors, _ = load_file(source / "model.safetensors")
    header, offset, parts = {"__metadata__": {"format": "pt"}}, 0, []
    for name, tensor in tensors.items():
        bits = tensor.view(np.uint32).astype(np.uint64)
        bits = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2")
        header[name] = {"dtype": "BF16", "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + bits.nbytes]}
        offset += bits.nbytes
        parts.append(bits)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-(8 + len(encoded)) % 8)
    with open(directory / "model.safetensors", "wb") as file:
        file.write(struct.pack("<Q", len(encoded)) + encoded)
        for bits in parts:
            file.write(bits.tobytes())


def write_models(root: Path) -> dict[str, Path]:
    """The three directories: Hugging Face F32 and BF16, and ours."""
    model = GPT(GPT2_124M)
    model.save_pretrained(root / "hf-f32")
    model.save(root / "ours")
    del model
    write_bf16(root / "hf-f32", root / "hf-bf16")
    return {"f32": root / "hf-f32", "bf16": root / "hf-bf16", "ours": root / "ours"}


def measure(loader: str, directory: Path) -> tuple[float, int]:
    """(median seconds, largest peak bytes) of ROUNDS loads, each in a fresh process."""
    runs = []
    for _ in range(ROUNDS):
        result = subprocess.run([sys.executable, "-c", MEASURE, loader, str(directory)],
                                capture_output=True, text=True, check=True, cwd=ROOT,
                                env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
        seconds, peak = result.stdout.split()[-2:]
        runs.append((float(seconds), int(peak)))
    return statistics.median(s for s, _ in runs), max(p for _, p in runs)


def has_transformers() -> bool:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        return False
    return True


CASES = [("ours", "f32", "GPT.from_pretrained, HF F32"),
         ("ours", "bf16", "GPT.from_pretrained, HF BF16"),
         ("ours-own", "ours", "GPT.load, our directory (F32)"),
         ("transformers", "f32", "GPT2LMHeadModel.from_pretrained, F32"),
         ("transformers", "bf16", "GPT2LMHeadModel.from_pretrained, BF16 -> float32")]


def rows(directories: dict[str, Path]) -> list[tuple[str, float, int]]:
    return [(label, *measure(loader, directories[kind])) for loader, kind, label in CASES
            if loader != "transformers" or has_transformers()]


def table(directories: dict[str, Path]) -> list[str]:
    weights = GPT(GPT2_124M, init=False).params.flat.nbytes
    lines = [f"GPT-2 124M shape, {weights / 1e6:.0f} MB of float32 weights; median of "
             f"{ROUNDS} loads (fresh process each, warm page cache); peak = VmHWM - RSS before",
             f"{'loader':<52} {'seconds':>8} {'peak MB':>8} {'x weights':>9}"]
    for label, seconds, peak in rows(directories):
        lines.append(f"{label:<52} {seconds:>8.2f} {peak / 1e6:>8.0f} {peak / weights:>9.2f}")
    return lines


@pytest.fixture(scope="module")
def directories(tmp_path_factory):
    return write_models(tmp_path_factory.mktemp("load"))


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads /proc/self/status")
@pytest.mark.parametrize("loader, kind", [("ours", "f32"), ("ours", "bf16"),
                                          ("ours-own", "ours")])
def test_loading_124m_takes_at_most_1_2x_the_weights(directories, report_lines, loader, kind):
    seconds, peak = measure(loader, directories[kind])
    weights = GPT(GPT2_124M, init=False).params.flat.nbytes
    report_lines.append(f"load {loader} {kind}: {seconds:.2f} s, peak {peak / 1e6:.0f} MB "
                        f"({peak / weights:.2f}x the float32 weights)")
    assert peak <= 1.2 * weights


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as root:
        print("\n".join(table(write_models(Path(root)))))
