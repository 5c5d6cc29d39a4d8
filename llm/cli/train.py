"""`llm train` and `llm eval`.

    llm train --data input.txt --char --out runs/shakespeare         # nanoGPT's baby GPT recipe
    llm train --out runs/shakespeare --resume                        # continue after Ctrl-C
    llm train --data chats.jsonl --tokenizer tok.json --out runs/chat  # loss on assistant turns
    llm train --data input.txt --init-from gpt2/ --out runs/ft --block-size 256  # fine-tune
    llm eval --model runs/shakespeare/model --data input.txt         # val loss, bits per byte
    mpiexec -n 2 llm train --data prepared/ --out runs/two --zero 1  # data-parallel on MPI
"""
import argparse
import logging
import time
from dataclasses import fields
from pathlib import Path

from llm.cli.logs import configure_logging
from llm.cli.options import TOKENIZER_FILES
from llm.model import GPTConfig, load
from llm.model.config import ACTIVATIONS, NORMS, POSITIONALS
from llm.train import distributed, evaluate, run
from llm.train.trainer import MODEL_DIR, TrainConfig

log = logging.getLogger(__name__)

MODEL_FLAGS = ("n_layer", "n_head", "d_model", "d_ff", "block_size", "activation", "norm",
               "positional", "tie_embeddings", "label_smoothing")
DEFAULT_BLOCK_SIZE = 64
TRAIN_FLAG_HELP = {
    "batch_size": "sequences per micro-batch (of each process under mpiexec)",
    "max_iters": "updates in the whole run",
    "lr": "peak learning rate", "min_lr": "final learning rate of the cosine (default: lr / 10)",
    "warmup_iters": "updates of linear warm-up (default: 100, or a tenth of the decay when "
    "that is shorter)",
    "lr_decay_iters": "update at which the cosine reaches min_lr (default: max-iters)",
    "beta1": "AdamW beta1", "beta2": "AdamW beta2", "eps": "AdamW epsilon",
    "weight_decay": "weight decay of the matrices", "grad_clip": "global gradient-norm clip "
    "(0: off)", "grad_accum": "micro-batches per update", "eval_interval": "updates between "
    "evaluations", "eval_batches": "validation batches per evaluation", "log_interval":
    "updates between metrics lines", "checkpoint_interval": "updates between checkpoints "
    "(default: eval-interval)", "seed": "seed of the parameters and batches",
    "val_fraction": "share of the data held out for validation (its end)",
    "zero": "under mpiexec, 1 shards AdamW's moments across the ranks (ZeRO stage 1: each keeps "
            "1/N of them; same losses, less memory per rank)",
}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def register(subparsers) -> None:
    train = subparsers.add_parser(
        "train", help="train a GPT on text files",
        description="Train a GPT on text files into a run directory (checkpoint/, model/, "
                    "metrics.jsonl, loss.svg, train.log). Ctrl-C saves a checkpoint; --resume "
                    "continues exactly where it stopped. Data-parallel on several processes or "
                    "machines: `mpiexec -n N llm train ...` (the mpi extra); --batch-size is "
                    "then per process, and a run resumes on any number of processes that "
                    "divides its global batch.")
    train.add_argument("--data", nargs="+", metavar="PATH",
                       help="text files or directories of .txt files (each file a document), "
                            "a directory from `llm data prepare` (tokenized once), or "
                            "conversation files (.json/.jsonl, ShareGPT/LimaRP: chat training, "
                            "the loss on the assistant's turns only)")
    source = train.add_mutually_exclusive_group()
    source.add_argument("--tokenizer", type=Path, metavar="FILE",
                        help=TOKENIZER_FILES)
    source.add_argument("--char", action="store_true",
                        help="character-level: one token per distinct character of the data")
    source.add_argument("--init-from", type=Path, metavar="DIR",
                        help="fine-tune a trained model: a model directory (a run's model/, "
                             "or a Hugging Face GPT-2 directory such as `gpt2` saved by "
                             "transformers), with its own tokenizer and shape; --block-size may "
                             "shorten its context (default: the model's)")
    train.add_argument("--out", type=Path, required=True, metavar="DIR", help="run directory")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its checkpoint (same data; "
                            "--max-iters and optimizer settings may change)")
    train.add_argument("--documents", action="store_true",
                       help="keep files apart: windows never cross files, short files are "
                            "left-padded, the last files validate")
    model = train.add_argument_group("model (GPT-2 layout by default)")
    shape = {field.name: field.default for field in fields(GPTConfig)}
    model.add_argument("--n-layer", type=int, metavar="N",
                       help=f"transformer blocks (default {shape['n_layer']})")
    model.add_argument("--n-head", type=int, metavar="N",
                       help=f"attention heads (default {shape['n_head']})")
    model.add_argument("--d-model", type=int, metavar="N",
                       help=f"width of the residual stream (default {shape['d_model']})")
    model.add_argument("--d-ff", type=int, metavar="N",
                       help="MLP hidden width (default 4 * d-model)")
    model.add_argument("--block-size", type=int, metavar="N",
                       help=f"context length in tokens (default {DEFAULT_BLOCK_SIZE})")
    model.add_argument("--activation", choices=ACTIVATIONS,
                       help=f"default {shape['activation']}")
    model.add_argument("--norm", choices=NORMS,
                       help=f"LayerNorm placement (default {shape['norm']})")
    model.add_argument("--positional", choices=POSITIONALS,
                       help=f"default {shape['positional']}")
    model.add_argument("--tie-embeddings", action=argparse.BooleanOptionalAction,
                       help="the output layer reuses the token embedding (default, as GPT-2: "
                            "saves vocab x d-model parameters); with a small vocabulary "
                            "--no-tie-embeddings learns better (character-level Shakespeare: "
                            "about 0.025 lower val loss)")
    model.add_argument("--label-smoothing", type=float, metavar="X",
                       help=f"default {shape['label_smoothing']}")
    training = train.add_argument_group("training (defaults: nanoGPT's Shakespeare-char recipe)")
    defaults = TrainConfig()
    for field in fields(TrainConfig):
        kind = float if field.name in ("lr", "min_lr", "beta1", "beta2", "eps", "weight_decay",
                                       "grad_clip", "val_fraction") else int
        default = getattr(defaults, field.name)
        shown = "" if default is None else f" (default {default})"
        training.add_argument(flag(field.name), type=kind, metavar="X" if kind is float else "N",
                              help=TRAIN_FLAG_HELP[field.name] + shown)
    train.set_defaults(func=cmd_train)

    evaluate_parser = subparsers.add_parser(
        "eval", help="loss, perplexity and bits per byte of a trained model on text",
        description="Mean cross-entropy (nats per token), perplexity and bits per byte of a "
                    "model on text files, every token predicted once. Bits per byte compare "
                    "models with different tokenizers (the loss per token does not).")
    evaluate_parser.add_argument("--model", type=Path, required=True, metavar="DIR",
                                 help="a model directory (a run's model/ or checkpoint/, or a "
                                      "Hugging Face GPT-2 directory)")
    evaluate_parser.add_argument("--data", nargs="+", required=True, metavar="PATH")
    evaluate_parser.add_argument("--split", choices=evaluate.SPLITS, default="val",
                                 help="val: the last --val-fraction of the tokens, the run's "
                                      "validation split given its data (default); all: every "
                                      "token")
    evaluate_parser.add_argument("--val-fraction", type=float, default=defaults.val_fraction,
                                 help=f"default {defaults.val_fraction}")
    evaluate_parser.add_argument("--batch-size", type=int, default=defaults.batch_size,
                                 help=f"default {defaults.batch_size}")
    evaluate_parser.set_defaults(func=cmd_eval)


def use_run_log(args: argparse.Namespace, run_dir: Path) -> None:
    """Send the debug log to <run>/train.log unless --log-file chose another file."""
    if args.log_file is None:
        run_dir.mkdir(parents=True, exist_ok=True)
        configure_logging(args.log_level, run_dir / "train.log")


def cmd_train(args: argparse.Namespace) -> int:
    comm = distributed.connect()
    with comm.fail_together():
        return train_on(comm, args)


def train_on(comm: distributed.Communicator, args: argparse.Namespace) -> int:
    """`llm train` on the ranks of comm; rank 0 alone logs, prints and writes files."""
    if comm.rank > 0:
        logging.getLogger("llm").setLevel(logging.ERROR)
    train_values = {field.name: getattr(args, field.name) for field in fields(TrainConfig)
                    if getattr(args, field.name) is not None}
    model_values = {name: getattr(args, name) for name in MODEL_FLAGS
                    if getattr(args, name) is not None}
    if args.resume:
        given = [flag(name) for name in model_values] + \
            [option for option, value in (("--tokenizer", args.tokenizer), ("--char", args.char),
                                          ("--init-from", args.init_from),
                                          ("--documents", args.documents)) if value]
        if given:
            raise ValueError(f"{', '.join(given)}: a resumed run keeps its model and tokenizer; "
                             "drop these options")
        if comm.rank == 0:
            use_run_log(args, args.out)
        trainer = run.resume(args.out, train_values, data=args.data, comm=comm)
    else:
        if not args.data:
            raise ValueError("no data: pass --data PATH (text files or directories)")
        if not (args.tokenizer or args.char or args.init_from or run.prepared_directory(args.data)):
            raise ValueError("choose a tokenizer: --tokenizer FILE (a trained tokenizer.json) "
                             "or --char (character-level); a directory from `llm data "
                             "prepare` and a model given to --init-from bring their own")
        if comm.rank == 0:
            use_run_log(args, args.out)
        if args.init_from is None:
            model_values = {"block_size": DEFAULT_BLOCK_SIZE, **model_values}
        trainer = run.start(args.data, args.out, model_values, TrainConfig(**train_values),
                            "char" if args.char else args.tokenizer, args.documents, comm,
                            args.init_from)
    result = trainer.run()
    if comm.rank == 0:
        print(summary(result))
    return 0


def summary(result) -> str:
    lines = [f"step {result.step}: train loss {format_loss(result.train_loss)}, "
             f"val loss {format_loss(result.val_loss)} (best {format_loss(result.best_val_loss)})"]
    if result.tokens_per_second:
        lines.append(f"{result.seconds:.0f} s of training, {result.tokens_per_second:,.0f} "
                     "tokens/s")
    model_dir = result.run_dir / MODEL_DIR
    lines.append(f"model saved in {model_dir}; metrics in {result.run_dir / 'metrics.jsonl'}, "
                 f"curve in {result.run_dir / 'loss.svg'}")
    return "\n".join(lines)


def format_loss(loss: float | None) -> str:
    return "-" if loss is None else f"{loss:.4f}"


def cmd_eval(args: argparse.Namespace) -> int:
    model, tokenizer = load(args.model)
    started = time.perf_counter()
    result = evaluate.evaluate_files(model, tokenizer, args.data, args.split, args.val_fraction,
                                     args.batch_size)
    bits = "-" if result.bits_per_byte is None else f"{result.bits_per_byte:.4f}"
    print(f"{args.split} loss {result.loss:.4f} (nats/token), perplexity {result.perplexity:.3f},"
          f" {bits} bits/byte over {result.tokens:,} tokens "
          f"({result.bytes:,} bytes) in {time.perf_counter() - started:.1f} s")
    return 0
