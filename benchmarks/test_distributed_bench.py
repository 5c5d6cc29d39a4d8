"""Data-parallel training speed on this machine's cores, at the sizes of test_train_bench.py
(large: 6 layers x 384, T 256, global batch 64, vocab 65), the global batch kept fixed:

    ours 1x2        one process, 2 threads (LLM_NUM_THREADS=2), batch 64
    ours 2x1        `mpiexec -n 2`, 1 thread per rank, batch 32 per rank (all-reduce)
    ours 2x1 zero1  the same with ZeRO-1 (reduce-scatter, sharded AdamW, all-gather)
    torch DDP 2x1   PyTorch DistributedDataParallel, gloo, 2 processes x 1 thread
                    (torch.multiprocessing), batch 32 each, the PyTorch twin (torch_gpt.py)

Each step is the Trainer's own (Trainer.train_step: forward, backward, the collectives,
clipping, AdamW), on random character ids; PyTorch's is zero_grad, forward, backward (DDP's
bucketed all-reduce overlapping it), clip_grad_norm_, fused AdamW.

    python benchmarks/test_distributed_bench.py [large|small] [repeats]   # the table
    python -m pytest benchmarks/test_distributed_bench.py                # small, once each

The table runs every configuration in fresh processes, alternating, `repeats` times (default
2), and prints median tokens/s (global batch x T / the step's wall time on rank 0), the
communication time per step (the seconds rank 0 spends inside MPI collectives, timed around
each call by MPICommunicator: measured, waits for the other rank included) and each rank's
peak resident memory (ru_maxrss).
"""
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.test_train_bench import (
    BETAS,
    EPS,
    LEARNING_RATE,
    MAX_NORM,
    SIZES,
    VOCAB_SIZE,
    WEIGHT_DECAY,
    make_config,
)

STEPS = {"large": 3, "small": 20}
# name: (launcher processes, threads per process, implementation, ZeRO stage)
RUNS = {"ours 1x2": (1, 2, "ours", 0), "ours 2x1": (2, 1, "ours", 0),
        "ours 2x1 zero1": (2, 1, "ours", 1), "torch DDP 2x1": (2, 1, "ddp", 0)}


def random_tokens(n: int = 1 << 20) -> np.ndarray:
    return np.random.default_rng(0).integers(0, VOCAB_SIZE, n).astype(np.uint16)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_record(out_dir: str, record: dict) -> None:
    """Each rank writes its own file (the ranks' stdout lines interleave)."""
    (Path(out_dir) / f"rank{record['rank']}.json").write_text(json.dumps(record))


def measure_ours(size: str, steps: int, zero: int) -> dict:
    """This process's rank (of the mpiexec that started it, or alone): wall ms and
    communication ms of each step after one warm-up, and peak memory."""
    from llm.model import GPT
    from llm.train import TrainConfig, Trainer, distributed, loader

    comm = distributed.connect()
    config = make_config(size)
    batch = SIZES[size]["batch_size"] // comm.size
    train = loader.StreamLoader(random_tokens(), config.block_size, batch, 0, ranks=comm.size,
                                rank=comm.rank)
    run_dir = tempfile.mkdtemp(prefix="distributed-bench-")
    trainer = Trainer(GPT(config), train, train,
                      TrainConfig(batch_size=batch, zero=zero, beta1=BETAS[0], beta2=BETAS[1],
                                  eps=EPS, weight_decay=WEIGHT_DECAY, grad_clip=MAX_NORM),
                      run_dir, comm=comm)
    wall, communication = [], []
    for step in range(steps + 1):
        comm_before, started = comm.seconds, time.perf_counter()
        trainer.train_step(LEARNING_RATE)
        if step:   # the first is the warm-up
            wall.append((time.perf_counter() - started) * 1e3)
            communication.append((comm.seconds - comm_before) * 1e3)
    shutil.rmtree(run_dir)
    return {"rank": comm.rank, "ms": wall, "comm_ms": communication, "maxrss_mb": peak_mb()}


def ddp_rank(rank: int, size_name: str, steps: int, port: int, out_dir: str) -> None:
    """One process of PyTorch DDP (gloo, 1 thread); writes its record into out_dir."""
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from benchmarks.torch_gpt import TorchGPT
    from llm.model import GPT

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    config = make_config(size_name)
    batch, T = SIZES[size_name]["batch_size"] // 2, config.block_size

    class Loss(torch.nn.Module):   # DDP synchronizes what goes through its forward
        def __init__(self):
            super().__init__()
            self.twin = TorchGPT.from_ours(GPT(config))

        def forward(self, idx, targets):
            return self.twin.loss(idx, targets)

    model = DistributedDataParallel(Loss())
    optimizer = torch.optim.AdamW(model.module.twin.decay_groups(WEIGHT_DECAY),
                                  lr=LEARNING_RATE, betas=BETAS, eps=EPS, fused=True)
    tokens = torch.from_numpy(random_tokens().astype(np.int64))
    generator = torch.Generator().manual_seed(rank)
    wall = []
    for step in range(steps + 1):
        starts = torch.randint(0, len(tokens) - T - 1, (batch,), generator=generator)
        windows = tokens[starts[:, None] + torch.arange(T + 1)]
        started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        model(windows[:, :-1], windows[:, 1:]).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_NORM)
        optimizer.step()
        if step:
            wall.append((time.perf_counter() - started) * 1e3)
    write_record(out_dir, {"rank": rank, "ms": wall, "comm_ms": None, "maxrss_mb": peak_mb()})
    dist.destroy_process_group()


def measure_ddp(size: str, steps: int, out_dir: str) -> None:
    import torch.multiprocessing as mp

    with socket.socket() as probe:   # a free port for the rendezvous
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mp.spawn(ddp_rank, args=(size, steps, port, out_dir), nprocs=2)


def run_measure(name: str, size: str, steps: int) -> dict:
    """Run one configuration in fresh processes: {rank: its JSON record}."""
    processes, threads, implementation, zero = RUNS[name]
    with tempfile.TemporaryDirectory() as out_dir:
        command = [sys.executable, __file__, "--measure", implementation, size, str(steps),
                   str(zero), out_dir]
        if implementation == "ours" and processes > 1:
            command = [shutil.which("mpiexec"), "-n", str(processes), *command]
        env = {**os.environ, "LLM_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
        subprocess.run(command, check=True, cwd=ROOT, env=env, timeout=3600)
        records = [json.loads(path.read_text()) for path in Path(out_dir).glob("rank*.json")]
    return {record["rank"]: record for record in records}


def available() -> list[str]:
    have_mpi = shutil.which("mpiexec") is not None and _importable("mpi4py")
    return [name for name, (processes, _, implementation, _) in RUNS.items()
            if (implementation == "ddp" and _importable("torch"))
            or (implementation == "ours" and (processes == 1 or have_mpi))]


def _importable(module: str) -> bool:
    try:
        __import__(module)
        return True
    except ImportError:
        return False


def compare(size: str, repeats: int) -> list[str]:
    """Alternate the configurations `repeats` times; the table's lines."""
    names = available()
    tokens_per_step = SIZES[size]["batch_size"] * make_config(size).block_size
    ms = {name: [] for name in names}
    comm_ms = {name: [] for name in names}
    memory = {name: {} for name in names}
    for _ in range(repeats):
        for name in names:
            for rank, record in run_measure(name, size, STEPS[size]).items():
                memory[name][rank] = max(memory[name].get(rank, 0.0), record["maxrss_mb"])
                if rank == 0:
                    ms[name] += record["ms"]
                    comm_ms[name] += record["comm_ms"] or []
    speed = {name: tokens_per_step / (statistics.median(ms[name]) / 1e3) for name in names}
    lines = [(f"{size}: global batch {SIZES[size]['batch_size']} x T "
              f"{make_config(size).block_size}, {repeats} x {STEPS[size]} steps each")]
    for name in names:
        step = statistics.median(ms[name])
        line = f"  {name:15} {speed[name]:9,.0f} tokens/s  {step:9.1f} ms/step"
        if RUNS[name][0] > 1 and comm_ms[name]:
            comm = statistics.median(comm_ms[name])
            line += f"  communication {comm:7.1f} ms/step ({comm / step:5.1%})"
        line += "  peak " + ", ".join(f"rank {rank} {mb:,.0f} MB"
                                      for rank, mb in sorted(memory[name].items()))
        lines.append(line)
    for name, base in (("ours 2x1", "ours 1x2"), ("ours 2x1 zero1", "ours 1x2"),
                       ("ours 2x1", "torch DDP 2x1"), ("ours 2x1 zero1", "torch DDP 2x1")):
        if name in speed and base in speed:
            lines.append(f"  {name} / {base}: {speed[name] / speed[base]:.2f}x")
    return lines


def test_data_parallel_training(report_lines):
    """A smoke run of every available configuration at the small size (the table's figures
    come from the script)."""
    lines = compare("small", repeats=1)
    report_lines.extend(lines)
    assert len(lines) >= 2 and "tokens/s" in lines[1]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--measure"]:
        implementation, size, steps, zero, out_dir = sys.argv[2:7]
        if implementation == "ours":
            write_record(out_dir, measure_ours(size, int(steps), int(zero)))
        else:
            measure_ddp(size, int(steps), out_dir)
    else:
        arguments = sys.argv[1:]
        size = arguments[0] if arguments else "large"
        for line in compare(size, int(arguments[1]) if len(arguments) > 1 else 2):
            print(line, flush=True)
