"""Training speed: milliseconds per iteration (forward + backward + gradient clipping + AdamW)
of llm.GPT against its PyTorch twin (benchmarks/torch_gpt.py, eager mode, same thread count),
at two sizes of a character-level model (vocab 65) and GPT-2 124M's shape at two lengths:

    small:     n_layer=4, n_head=4, d_model=128, block_size=64, batch_size=12
    large:     n_layer=6, n_head=6, d_model=384, block_size=256, batch_size=64
    gpt2-t64:  GPT-2 124M (n_layer=12, n_head=12, d_model=768, vocab 50257), batch 4 x 64 tokens
    gpt2-t256: the same at batch 4 x 256 tokens

    python -m pytest benchmarks/test_train_bench.py        # pytest-benchmark, one group per size
    python -m benchmarks.test_train_bench [small|large|gpt2-t64|gpt2-t256]   # table: ms/iter,
                                                            # ratio, peak memory
    python -m benchmarks.test_train_bench gpt2-t64 --fine-tune   # a loaded checkpoint vs a new
                                                                 # model (same speed expected)
    python -m benchmarks.test_train_bench small --compile   # against torch.compile (inductor)

The table runs each (implementation, size) in a fresh subprocess, alternating (six times for
small, twice for large), so the two OpenMP pools never share a process and the peak resident
memory (ru_maxrss) is each one's own; it prints the overall medians and the median ratio of
adjacent (ours, torch) runs.
"""
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from benchmarks.timing import thread_count
from llm._ext import adamw
from llm.model import GPT, GPTConfig

SIZES = {
    "small": dict(config=dict(n_layer=4, n_head=4, d_model=128, block_size=64), batch_size=12,
                  rounds=20, repeats=6),
    "large": dict(config=dict(n_layer=6, n_head=6, d_model=384, block_size=256), batch_size=64,
                  rounds=3, repeats=2),
    "gpt2-t64": dict(config=dict(vocab_size=50257, n_layer=12, n_head=12, d_model=768,
                                 block_size=64), batch_size=4, rounds=6, repeats=6),
    "gpt2-t256": dict(config=dict(vocab_size=50257, n_layer=12, n_head=12, d_model=768,
                                  block_size=256), batch_size=4, rounds=4, repeats=3),
}
VOCAB_SIZE = 65   # the character-level sizes'
LEARNING_RATE, BETAS, EPS, WEIGHT_DECAY, MAX_NORM = 3e-4, (0.9, 0.95), 1e-8, 0.1, 1.0


def make_config(size: str) -> GPTConfig:
    return GPTConfig(**{"vocab_size": VOCAB_SIZE, **SIZES[size]["config"]})


def make_batch(size: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random character ids (B, T) and their next-character targets."""
    config, batch_size = make_config(size), SIZES[size]["batch_size"]
    ids = np.random.default_rng(seed).integers(0, config.vocab_size,
                                               (batch_size, config.block_size + 1))
    return ids[:, :-1].astype(np.int32), ids[:, 1:].astype(np.int32)


def ours_train_step(size: str, model: GPT | None = None):
    """A function running one training iteration of llm.GPT (model, or a new one); returns the
    loss."""
    model = model or GPT(make_config(size))
    params, grads = model.params.flat, model.grads.flat
    m, v = np.zeros_like(params), np.zeros_like(params)
    decay = model.decay_mask()
    idx, targets = make_batch(size)
    step = 0

    def train_step() -> float:
        nonlocal step
        step += 1
        loss = model.loss(idx, targets)
        model.backward(accumulate=False)   # writes the gradients: zero_grad() not needed
        scale = adamw.clip_scale(adamw.grad_norm(grads), MAX_NORM)   # clipping, as the trainer
        adamw.adamw_step(params, grads, m, v, LEARNING_RATE, BETAS[0], BETAS[1], EPS,
                         WEIGHT_DECAY, step, decay_mask=decay, grad_scale=scale)
        return loss

    return train_step


def torch_train_step(size: str, compiled: bool = False):
    """The same iteration for the PyTorch twin (same initial weights); compiled: its loss
    (forward and, through AOTAutograd, backward) compiled by torch.compile's default inductor
    backend, which fuses the pointwise work into generated C++ (the first call compiles)."""
    import torch

    from benchmarks.torch_gpt import TorchGPT

    torch.set_num_threads(thread_count())
    twin = TorchGPT.from_ours(GPT(make_config(size)))
    optimizer = torch.optim.AdamW(twin.decay_groups(WEIGHT_DECAY), lr=LEARNING_RATE,
                                  betas=BETAS, eps=EPS, fused=True)
    idx, targets = (torch.from_numpy(a.astype(np.int64)) for a in make_batch(size))
    loss_of = torch.compile(twin.loss) if compiled else twin.loss

    def train_step() -> float:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_of(idx, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(twin.parameters(), MAX_NORM)
        optimizer.step()
        return loss.item()

    return train_step


def pretrained_train_step(size: str):
    """The same iteration of a model saved in Hugging Face's GPT-2 format and loaded back, as
    `llm train --init-from` starts a fine-tuning run (which must run as fast as training from
    scratch)."""
    with tempfile.TemporaryDirectory() as directory:
        GPT(make_config(size)).save_pretrained(directory)
        model = GPT.from_pretrained(directory)
    return ours_train_step(size, model)


STEP_BUILDERS = {"ours": ours_train_step, "torch": torch_train_step,
                 "torch-compile": lambda size: torch_train_step(size, compiled=True),
                 "ours-pretrained": pretrained_train_step}
PEERS = {"torch": ("ours", "torch"), "compile": ("ours", "torch-compile"),
         "fine-tune": ("ours", "ours-pretrained")}


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("implementation", ["ours", "torch"])
def test_train_iteration(benchmark, implementation, size):
    if implementation == "torch":
        pytest.importorskip("torch")
    train_step = STEP_BUILDERS[implementation](size)
    first = train_step()
    benchmark.group = f"train iteration, {size}"
    benchmark.extra_info["threads"] = thread_count()
    losses = benchmark.pedantic(train_step, rounds=SIZES[size]["rounds"], warmup_rounds=1)
    vocab_size = make_config(size).vocab_size
    assert np.isfinite(first) and abs(first - np.log(vocab_size)) < 0.5  # ~uniform at init
    assert np.isfinite(losses)


# ------------------------------------------------------------ the table (subprocess per run)

def measure(implementation: str, size: str, iterations: int) -> dict:
    """Run in a fresh process: wall and CPU ms of each iteration after one warm-up, and peak
    memory. (On a busy machine the CPU time of a one-thread run is the steadier figure.)"""
    train_step = STEP_BUILDERS[implementation](size)
    train_step()
    wall, cpu = [], []
    for _ in range(iterations):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        train_step()
        wall.append((time.perf_counter() - start_wall) * 1e3)
        cpu.append((time.process_time() - start_cpu) * 1e3)
    return {"ms": wall, "cpu_ms": cpu,
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_measure(implementation: str, size: str, iterations: int) -> dict:
    output = subprocess.run(
        [sys.executable, "-m", __spec__.name, "--measure", implementation, size, str(iterations)],
        check=True, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    return json.loads(output.stdout.strip().splitlines()[-1])


def compare(size: str, names: tuple[str, str] = PEERS["torch"]) -> None:
    """Alternate fresh processes of ours and the peer (PyTorch, or ours loaded from a
    checkpoint) the size's `repeats` times. The shared machine drifts between faster and
    slower states that both feel, so besides the overall medians the speed-up is also given as
    the median of each adjacent (ours, peer) pair's ratio."""
    repeats = SIZES[size]["repeats"]
    iterations = max(2, SIZES[size]["rounds"] // 2)
    results = {name: {"ms": [], "cpu_ms": [], "maxrss_mb": 0.0} for name in names}
    pair_ratios = []
    ours, peer = names
    for _ in range(repeats):
        run_medians = {}
        for name in names:
            run = run_measure(name, size, iterations)
            results[name]["ms"] += run["ms"]
            results[name]["cpu_ms"] += run["cpu_ms"]
            results[name]["maxrss_mb"] = max(results[name]["maxrss_mb"], run["maxrss_mb"])
            run_medians[name] = statistics.median(run["ms"])
        pair_ratios.append(run_medians[peer] / run_medians[ours])
    wall = {name: statistics.median(result["ms"]) for name, result in results.items()}
    cpu = {name: statistics.median(result["cpu_ms"]) for name, result in results.items()}
    print(f"{size}: threads={thread_count()}  " + "  ".join(
        f"{name} {wall[name]:.1f} ms/iter (cpu {cpu[name]:.1f} ms, peak "
        f"{results[name]['maxrss_mb']:.0f} MB)" for name in names) +
        f"  speed-up {wall[peer] / wall[ours]:.2f}x (cpu {cpu[peer] / cpu[ours]:.2f}x);"
        f" adjacent pairs: median {statistics.median(pair_ratios):.2f}x, range "
        f"{min(pair_ratios):.2f}-{max(pair_ratios):.2f}x")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--measure"]:
        print(json.dumps(measure(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
    else:
        options = {"--fine-tune": "fine-tune", "--compile": "compile"}
        peers = PEERS[next((options[arg] for arg in sys.argv if arg in options), "torch")]
        for size in [arg for arg in sys.argv[1:] if arg not in options] or list(SIZES):
            compare(size, peers)
