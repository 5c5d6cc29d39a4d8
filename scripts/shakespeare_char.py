"""The quality target: nanoGPT's character-level Shakespeare "baby GPT" on the CPU.

    python scripts/shakespeare_char.py [--seeds 1337 1338 1339] [--out runs/shakespeare-char]

n_layer=4, n_head=4, d_model=128, block_size=64, batch_size=12, 2000 updates, lr 1e-3 with 100
warm-up updates and cosine decay to 1e-4, AdamW betas (0.9, 0.99), weight decay 0.1, clip 1.0,
no dropout; the first 90% of tinyshakespeare.txt trains, the last 10% validates (mean loss of
200 random validation batches). nanoGPT's README reports about 1.88. The training settings are
the defaults of `llm train`; the model has its own output layer (tie_embeddings=False, see
below), so one seed is also:

    llm train --data tinyshakespeare.txt --char --no-tie-embeddings --out runs/sc/seed-1337

Prints each seed's final val loss, its time and throughput, then the mean. With --peer torch,
each seed also trains the PyTorch twin (benchmarks/torch_gpt.py: same architecture, same initial
weights, same batches, same schedule and AdamW settings, same validation batches), so the two
implementations are compared on identical data rather than across seeds.

The output layer. nanoGPT ties it to the token embedding (GPT-2's choice, which saves
vocab x d_model parameters: 38.6M at GPT-2's 50257 tokens, 8,320 here). At 65 characters the
tie costs accuracy: one 128-wide vector per character must serve both as what the model reads
and as what it predicts. Val loss, seeds 1337, 1338, 1339 and mean, ours and the PyTorch twin
equal to 4 decimals in both layouts:

    own output layer (tie_embeddings=False; this script)    1.8730  1.8887  1.8768   1.8795
    tied, as nanoGPT                                        1.9023  1.9091  1.9030   1.9048

Versus nanoGPT otherwise: the corpus (1,115,394 characters), the split, batch sampling, the
initialization (normal 0.02, residual projections 0.02 / sqrt(2 n_layer)), the schedule (warm-up
lr (step + 1) / (warmup + 1), cosine to min_lr at update 2000), AdamW (eps 1e-8), clipping,
LayerNorm eps 1e-5 and the 2000 updates are its own. Four more things differ; each, measured
with PyTorch from our initial weights on our batches, tied layout (val loss as above):

    tied, as nanoGPT                                        1.9023  1.9091  1.9030   1.9048
    no biases in linear layers and LayerNorms (bias=False)  1.9140  1.9165  1.9053   1.9119
    weight decay on the embeddings too (every 2-D tensor)   1.9024  1.9093  1.9042   1.9053
    exact GELU instead of the tanh approximation            1.9021  1.9090  1.9029   1.9047
    65 ids (no <unknown> id in the character tokenizer)     1.9008  1.9080  1.9018   1.9035
    today's nanoGPT: no biases, embedding decay, exact GELU 1.9140  1.9166  1.9066   1.9124

(nanoGPT of early 2023 used the tanh GELU and, like minGPT, decayed no embedding.) The README's
1.88 is one run evaluated on 20 validation batches (--eval_iters=20); a batch's loss varies with
a standard deviation of about 0.063, so a 20-batch mean is itself uncertain by about 0.014.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import llm
from llm.model import GPT
from llm.train import TrainConfig, Trainer, start

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "corpora" / "tinyshakespeare.txt"
MODEL = {"n_layer": 4, "n_head": 4, "d_model": 128, "block_size": 64, "tie_embeddings": False}


def train_torch_twin(trainer: Trainer) -> float:
    """Train the PyTorch twin of trainer's model from the same initial weights on the same
    batches; its final mean validation loss over the same validation batches."""
    import torch

    sys.path.insert(0, str(ROOT))
    from benchmarks.torch_gpt import TorchGPT

    torch.set_num_threads(llm.build_info()["omp_threads"])
    cfg = trainer.config
    twin = TorchGPT.from_ours(GPT(trainer.model.config))     # the seed fixes the initial weights
    optimizer = torch.optim.AdamW(twin.decay_groups(cfg.weight_decay), lr=cfg.lr,
                                  betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)
    schedule = cfg.schedule()

    def tensors(batch):
        return (torch.from_numpy(batch.idx.astype(np.int64)),
                torch.from_numpy(batch.targets.astype(np.int64)))

    trainer.train_loader.reset()
    for step in range(cfg.max_iters):
        for group in optimizer.param_groups:
            group["lr"] = schedule(step)
        loss = twin.loss(*tensors(trainer.train_loader.next_batch()))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(twin.parameters(), cfg.grad_clip)
        optimizer.step()
    trainer.val_loader.reset()
    with torch.no_grad():
        losses = [twin.loss(*tensors(trainer.val_loader.next_batch())).item()
                  for _ in range(cfg.eval_batches)]
    return float(np.mean(losses))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=Path("runs/shakespeare-char"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1337, 1338, 1339])
    parser.add_argument("--peer", choices=["torch"],
                        help="also train the PyTorch twin on the same batches")
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"{args.data} not found; pass --data PATH to tinyshakespeare.txt", file=sys.stderr)
        return 1
    print(f"threads {llm.build_info()['omp_threads']}, simd {llm.build_info()['simd']}")
    losses = {"ours": [], "torch": []}
    for seed in args.seeds:
        run_dir = args.out / f"seed-{seed}"
        started = time.perf_counter()
        trainer = start([args.data], run_dir, MODEL, TrainConfig(seed=seed), "char")
        result = trainer.run()
        elapsed = time.perf_counter() - started
        losses["ours"].append(result.val_loss)
        print(f"seed {seed}: val loss {result.val_loss:.4f} at step {result.step}, "
              f"{elapsed:.0f} s in all ({result.seconds:.0f} s training, "
              f"{result.tokens_per_second:,.0f} tokens/s)", flush=True)
        if args.peer:
            started = time.perf_counter()
            losses["torch"].append(train_torch_twin(trainer))
            print(f"seed {seed}: torch twin val loss {losses['torch'][-1]:.4f}, "
                  f"{time.perf_counter() - started:.0f} s in all", flush=True)
    for name, values in losses.items():
        if len(values) > 1:
            print(f"{name}: mean val loss {statistics.mean(values):.4f} over {len(values)} seeds "
                  f"(min {min(values):.4f}, max {max(values):.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
