"""The training loop: gradient accumulation, clipping, AdamW with a warm-up + cosine schedule,
periodic evaluation, logging, metrics.jsonl, checkpoints and a loss curve.

One update (a "step"):
    grads = 0; for each of grad_accum micro-batches: loss(batch), backward()  (grads add up)
    grads /= grad_accum; clip to global norm grad_clip; AdamW step with lr = schedule(step)

After update `step` (counting from 1): a metrics line every log_interval updates, evaluation
(mean loss over eval_batches validation batches, the same batches every time) every
eval_interval updates, a checkpoint every checkpoint_interval updates; all three at the last
update, followed by the final model in `<run>/model/` and the loss curve in `<run>/loss.svg`.

Reproducible: batches come from Generators seeded by the run's seed and the kernels are
deterministic whatever their thread count (each sum runs in the same order on any number of
threads; the automatic count may change during a run), so the same seed and machine give the
same losses bit for bit, and a run resumed from a checkpoint continues exactly as if it had
never stopped (the checkpoint holds the loader's Generator state and the partial sums of the
current metrics line).

Divergence stops training with TrainingDiverged before the update is applied: a NaN or infinite
loss or gradient, or a mean loss above DIVERGED_LOSS_FACTOR times what guessing uniformly costs
(ln vocab_size: the loss at initialisation). A checkpoint is written only of weights that are
finite and within MAX_GOOD_WEIGHT, so the last checkpoint on disk stays a good one to resume
from with a lower learning rate. Ctrl-C finishes the
current update, saves a checkpoint and raises KeyboardInterrupt (a second Ctrl-C quits at once).

Data-parallel ranks (`mpiexec -n N llm train`, a Communicator from llm.train.distributed):
batch_size is per rank and a global batch has batch_size * N * grad_accum rows, the rows a
single process with batch_size * N would train on (llm.train.loader), each rank computing its
share of the mean loss and gradient; the shares are summed once per update
(llm.train.data_parallel, which also shards AdamW's moments with zero=1). Validation batches
are split across the ranks the same way and their shares summed. The ranks agree on Ctrl-C at
each update's end, compare a checksum of the parameters at every metrics line, and rank 0
alone shows the progress bar and writes metrics.jsonl, checkpoints, the model and the curve.
"""
import logging
import math
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from llm._ext import adamw
from llm.data.corpus import VAL_FRACTION, check_fraction
from llm.model import GPT
from llm.train import checkpoint, metrics
from llm.train.data_parallel import data_parallel_adamw
from llm.train.distributed import ONE_PROCESS, Communicator, Interrupted
from llm.train.loader import Batch, WindowLoader
from llm.train.plot import write_loss_curve
from llm.train.schedule import CosineSchedule
from llm.util.atomic import replace_directory
from llm.util.config_dict import DictConfig, isinstance_json

log = logging.getLogger(__name__)

# A run has diverged once its training loss is this many times ln(vocab_size), the loss of a
# uniform guess (healthy runs start there and fall), or once a weight's magnitude passes
# MAX_GOOD_WEIGHT (trained GPT-2 weights stay within a few tens; a diverging run's reach 1e3
# after a step or two and 1e15 a few steps later, while its loss may still be finite).
DIVERGED_LOSS_FACTOR = 3.0
MAX_GOOD_WEIGHT = 1e3

# The fields of Trainer.state and the JSON types each must have.
STATE_FIELDS = {"step": (int,), "train_loader": (dict,), "loss_sum": (float,),
                "loss_count": (int,), "best_val_loss": (float, type(None)), "ranks": (int,),
                "train_config": (dict,), "run": (dict,)}

CHECKPOINT_DIR = "checkpoint"
MODEL_DIR = "model"
METRICS_FILE = "metrics.jsonl"
LOSS_CURVE_FILE = "loss.svg"


DEFAULT_WARMUP_ITERS = 100


class TrainingDiverged(ValueError):
    """The loss or the gradient norm became NaN or infinite."""


@dataclass(frozen=True)
class TrainConfig(DictConfig):
    """How to train (the model's shape is its GPTConfig). Defaults: nanoGPT's character-level
    Shakespeare recipe.

    batch_size:          sequences per micro-batch (of each data-parallel rank).
    max_iters:           updates in the whole run.
    lr, min_lr:          peak learning rate and the floor of the cosine (None: lr / 10).
    warmup_iters:        updates of linear warm-up (None: DEFAULT_WARMUP_ITERS, or a tenth of
                         the decay when that is shorter, so a short run still decays).
    lr_decay_iters:      update at which the cosine reaches min_lr (None: max_iters).
    beta1, beta2, eps:   AdamW's moment decays and denominator term.
    weight_decay:        decoupled weight decay on the matrices.
    grad_clip:           clip the global gradient norm to this (0: no clipping).
    grad_accum:          micro-batches per update (their gradients are averaged).
    eval_interval:       updates between validation evaluations.
    eval_batches:        validation batches averaged per evaluation.
    log_interval:        updates between metrics lines.
    checkpoint_interval: updates between checkpoints (None: eval_interval).
    seed:                seeds the parameters and the batches.
    val_fraction:        the share of the data held out for validation (the end of it).
    zero:                1 shards AdamW's moments across data-parallel ranks (ZeRO stage 1),
                         0 keeps all of them on every rank; the same updates either way.
    """

    batch_size: int = 12
    max_iters: int = 2000
    lr: float = 1e-3
    min_lr: float | None = None
    warmup_iters: int | None = None
    lr_decay_iters: int | None = None
    beta1: float = 0.9
    beta2: float = 0.99
    eps: float = 1e-8
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    grad_accum: int = 1
    eval_interval: int = 250
    eval_batches: int = 200
    log_interval: int = 10
    checkpoint_interval: int | None = None
    seed: int = 1337
    val_fraction: float = VAL_FRACTION
    zero: int = 0

    def __post_init__(self):
        for name in ("batch_size", "max_iters", "grad_accum", "eval_interval", "eval_batches",
                     "log_interval", "checkpoint_interval", "lr_decay_iters"):
            value = getattr(self, name)
            if value is None and name in ("checkpoint_interval", "lr_decay_iters"):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}: must be a positive integer")
        if self.warmup_iters is not None and (isinstance(self.warmup_iters, bool) or not
                                              isinstance(self.warmup_iters, int)
                                              or self.warmup_iters < 0):
            raise ValueError(f"warmup_iters={self.warmup_iters!r}: must be an integer >= 0")
        if not (math.isfinite(self.grad_clip) and self.grad_clip >= 0):
            raise ValueError(f"grad_clip={self.grad_clip}: must be >= 0 (0 turns clipping off)")
        check_fraction(self.val_fraction)
        if self.zero not in (0, 1) or isinstance(self.zero, bool):
            raise ValueError(f"zero={self.zero!r}: 0 (every rank holds AdamW's moments) or 1 "
                             "(each rank holds those of its 1/N of the parameters)")
        decay_iters = self.decay_iters
        if self.warmup_iters is not None and self.warmup_iters > decay_iters:
            raise ValueError(f"warmup_iters={self.warmup_iters} is longer than the whole decay "
                             f"({decay_iters} updates: lr_decay_iters, by default max_iters); "
                             "lower the warm-up or train longer")
        self.schedule()   # checks lr and min_lr

    @property
    def decay_iters(self) -> int:
        """The update at which the cosine reaches min_lr."""
        return self.max_iters if self.lr_decay_iters is None else self.lr_decay_iters

    @property
    def warmup(self) -> int:
        """Updates of warm-up: warmup_iters, or its default for this run's length."""
        if self.warmup_iters is not None:
            return self.warmup_iters
        return min(DEFAULT_WARMUP_ITERS, self.decay_iters // 10)

    def schedule(self) -> CosineSchedule:
        return CosineSchedule(self.lr, self.lr / 10 if self.min_lr is None else self.min_lr,
                              self.warmup, self.decay_iters)



@dataclass
class TrainResult:
    """What a run reached. Losses are None when never measured."""

    run_dir: Path
    step: int
    train_loss: float | None
    val_loss: float | None
    best_val_loss: float | None
    seconds: float                    # training time of this session (evaluation excluded)
    tokens_per_second: float | None   # training throughput of this session


class Trainer:
    """Trains `model` on batches from train_loader, evaluating on val_loader, writing into
    run_dir (metrics.jsonl, checkpoint/, model/, loss.svg).

    run_info: JSON-ready facts about the run kept in every checkpoint (data paths, tokenizer),
    so that it can be resumed. comm: the data-parallel ranks (default: this process alone);
    the loaders must draw this rank's rows of them.
    """

    def __init__(self, model: GPT, train_loader: WindowLoader, val_loader: WindowLoader,
                 config: TrainConfig, run_dir: str | Path, tokenizer=None,
                 run_info: dict | None = None, comm: Communicator = ONE_PROCESS):
        self.model, self.tokenizer, self.config = model, tokenizer, config
        self.train_loader, self.val_loader = train_loader, val_loader
        self.comm = comm
        self.writes = self.comm.rank == 0      # this rank writes the run's files
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.run_info = run_info or {}
        self.schedule = config.schedule()
        self.optimizer = data_parallel_adamw(
            model.params.flat, model.grads.flat, model.decay_mask(), self.comm, config.zero,
            beta1=config.beta1, beta2=config.beta2, eps=config.eps,
            weight_decay=config.weight_decay)
        self.metrics = metrics.MetricsLog(self.run_dir / METRICS_FILE)
        self.step = 0
        self.best_val_loss: float | None = None
        self.loss_sum, self.loss_count = 0.0, 0    # training losses since the last metrics line
        self.checkpoint_step = None               # step of the checkpoint on disk
        self.diverged_loss = DIVERGED_LOSS_FACTOR * max(1.0, math.log(model.config.vocab_size))

    # ---------------------------------------------------------------- state

    def state(self) -> dict:
        """The trainer's state for trainer_state.json."""
        return {
            "step": self.step,
            "train_loader": self.train_loader.state(),
            "loss_sum": self.loss_sum,
            "loss_count": self.loss_count,
            "best_val_loss": self.best_val_loss,
            "ranks": self.comm.size,
            "train_config": self.config.to_dict(),
            "run": self.run_info,
        }

    def restore(self, saved: checkpoint.Checkpoint) -> None:
        """Continue from a checkpoint (whose model this trainer was built with)."""
        check_state(saved)
        state = saved.state
        saved.restore_optimizer(self.optimizer)
        self.step = state["step"]
        try:
            self.train_loader.set_state(state["train_loader"])
        except (TypeError, ValueError, KeyError, OverflowError) as error:
            raise ValueError(f"{saved.directory / checkpoint.STATE_FILE}: train_loader is not "
                             f"the state of a random generator ({error!r}); the checkpoint is "
                             "damaged or was edited by hand") from None
        self.loss_sum, self.loss_count = state["loss_sum"], state["loss_count"]
        self.best_val_loss = state["best_val_loss"]
        self.checkpoint_step = self.step
        if self.writes:
            self.metrics.truncate_after(self.step)

    def save_checkpoint(self, lr: float) -> None:
        """Save the run's state, unless its weights show divergence (TrainingDiverged: the
        checkpoint on disk stays). Every rank calls this (each checks its weights, identical
        on all, and sharded optimizer state is gathered); rank 0 writes."""
        flat = self.model.params.flat   # max and -min: no |w| copy of every weight
        largest = float(max(flat.max(initial=0.0), -flat.min(initial=0.0)))
        if not largest <= MAX_GOOD_WEIGHT:   # also NaN
            raise self.diverged(f"a weight reached {largest:.3g} (more than {MAX_GOOD_WEIGHT:g})",
                                lr, self.step)
        optimizer_state = self.optimizer.gather_state()
        if self.writes:
            checkpoint.save(self.run_dir / CHECKPOINT_DIR, self.model, optimizer_state,
                            self.state(), self.tokenizer)
        self.checkpoint_step = self.step

    # ---------------------------------------------------------------- one update, evaluation

    def batch_loss(self, batch: Batch) -> float:
        """This rank's share of the global batch's mean loss (all of it for one process)."""
        return self.model.loss(batch.idx, batch.targets, batch.mask, batch.padding_mask,
                               batch.mean_count)

    def train_step(self, lr: float) -> float:
        """One update; returns its mean training loss (over the global batch).
        TrainingDiverged (before the update) when the loss or the gradient norm is not
        finite."""
        model, accum = self.model, self.config.grad_accum
        total = 0.0
        for micro_step in range(accum):
            loss = self.batch_loss(self.train_loader.next_batch())
            if not loss <= self.diverged_loss:   # also NaN
                raise self.diverged(f"the training loss is {loss:.4g}, more than "
                                    f"{self.diverged_loss:.3g} ({DIVERGED_LOSS_FACTOR:g}x that of "
                                    "a uniform guess)", lr)
            model.backward(accumulate=micro_step > 0)   # the first one replaces zero_grad()
            total += loss
        grads = model.grads.flat
        if accum > 1:
            grads *= np.float32(1.0 / accum)
        norm = self.optimizer.reduce_gradients()
        if not math.isfinite(norm):
            raise self.diverged(f"the gradient norm is {norm}", lr)
        clip = self.config.grad_clip
        self.optimizer.step(lr, grad_scale=adamw.clip_scale(norm, clip) if clip > 0 else 1.0)
        return float(self.comm.sum([total / accum])[0])

    def diverged(self, problem: str, lr: float, step: int | None = None) -> TrainingDiverged:
        """The error for divergence found during update `step` (default: the one under way)."""
        kept = (f"the last good checkpoint (step {self.checkpoint_step}) is kept in "
                f"{self.run_dir / CHECKPOINT_DIR}" if self.checkpoint_step is not None
                else "no checkpoint was written yet")
        return TrainingDiverged(
            f"training diverged at step {self.step + 1 if step is None else step} (lr {lr:.3g}): "
            f"{problem}; {kept}. "
            "Lower the learning rate (--lr), clip gradients (--grad-clip 1.0) or lengthen the "
            "warm-up (--warmup-iters), then resume with --resume or start again")

    def evaluate(self) -> float:
        """Mean loss over config.eval_batches validation batches (the same ones every call;
        global batches split across the ranks like the training ones)."""
        self.val_loader.reset()
        losses = [self.batch_loss(self.val_loader.next_batch())
                  for _ in range(self.config.eval_batches)]
        return float(np.mean(self.comm.sum(losses)))

    # ---------------------------------------------------------------- the loop

    def run(self) -> TrainResult:
        """Train until config.max_iters updates; see the module docstring."""
        cfg, comm = self.config, self.comm
        global_batch = cfg.batch_size * comm.size * cfg.grad_accum
        tokens_per_step = global_batch * self.train_loader.block_size
        log.info("global batch: %d sequences (%d per rank x %d ranks x %d accumulated) of %d "
                 "tokens; %s; AdamW moments %.1f MB per rank", global_batch, cfg.batch_size,
                 comm.size, cfg.grad_accum, self.train_loader.block_size, comm.describe(),
                 self.optimizer.state_bytes / 1e6)
        checkpoint_interval = cfg.checkpoint_interval or cfg.eval_interval
        session_seconds, session_steps = 0.0, 0
        interval_seconds, interval_steps = 0.0, 0
        if self.step >= cfg.max_iters:
            log.info("the run already reached step %d of max_iters=%d", self.step, cfg.max_iters)
        bar = tqdm(total=cfg.max_iters, initial=self.step, desc="training", unit="step",
                   disable=None if self.writes else True, dynamic_ncols=True)
        with StopRequest() as stop, bar, console_logging_through(bar):
            while self.step < cfg.max_iters:
                lr = self.schedule(self.step)
                started = time.perf_counter()
                loss = self.train_step(lr)
                seconds = time.perf_counter() - started
                self.step += 1
                self.loss_sum += loss
                self.loss_count += 1
                interval_seconds += seconds
                interval_steps += 1
                session_seconds += seconds
                session_steps += 1
                last = self.step == cfg.max_iters
                evaluate = self.step % cfg.eval_interval == 0 or last
                stopping = comm.any(stop.requested)    # every rank stops at the same step
                if self.step % cfg.log_interval == 0 or evaluate:
                    comm.check_identical(self.model.params.flat,
                                         f"the parameters after step {self.step}")
                    record = self.write_metrics(lr, tokens_per_step * interval_steps
                                                / interval_seconds, evaluate)
                    interval_seconds, interval_steps = 0.0, 0
                    bar.set_postfix(loss=f"{record['train_loss']:.4f}",
                                    tok_s=f"{record['tokens_per_second']:.0f}")
                if self.step % checkpoint_interval == 0 or last or stopping:
                    self.save_checkpoint(lr)
                bar.update(1)
                if stopping and not last:
                    log.warning("interrupted: checkpoint of step %d saved in %s; continue with "
                                "--resume", self.step, self.run_dir / CHECKPOINT_DIR)
                    raise Interrupted
        records = self.finish()
        evaluated = [record for record in records if "val_loss" in record]
        return TrainResult(
            self.run_dir, self.step, records[-1]["train_loss"] if records else None,
            evaluated[-1]["val_loss"] if evaluated else None, self.best_val_loss,
            session_seconds,
            tokens_per_step * session_steps / session_seconds if session_seconds else None)

    def write_metrics(self, lr: float, tokens_per_second: float, evaluate: bool) -> dict:
        record = {"step": self.step, "lr": lr, "train_loss": self.loss_sum / self.loss_count,
                  "tokens_per_second": tokens_per_second}
        self.loss_sum, self.loss_count = 0.0, 0
        if evaluate:
            val_loss = self.evaluate()
            if not math.isfinite(val_loss):
                raise self.diverged(f"the validation loss is {val_loss}", lr)
            record["val_loss"] = val_loss
            if self.best_val_loss is None or val_loss < self.best_val_loss:
                self.best_val_loss = val_loss
            log.info("step %d: train loss %.4f, val loss %.4f, lr %.3g, %.0f tokens/s",
                     self.step, record["train_loss"], val_loss, lr, tokens_per_second)
        else:
            log.debug("step %d: train loss %.4f, lr %.3g, %.0f tokens/s",
                      self.step, record["train_loss"], lr, tokens_per_second)
        if self.writes:
            self.metrics.append(record)
        return record

    def finish(self) -> list[dict]:
        """Write the final model (model/) and the loss curve (loss.svg); returns the run's
        metrics records (rank 0; the other ranks write nothing and return [])."""
        if not self.writes:
            return []
        model_dir = self.run_dir / MODEL_DIR
        replace_directory(model_dir, lambda temporary: self.model.save(temporary,
                                                                                self.tokenizer))
        records = metrics.read(self.metrics.path)
        if records:
            write_loss_curve(self.run_dir / LOSS_CURVE_FILE, records,
                             title=f"{self.run_dir.name}: loss per step")
        log.info("model saved in %s; metrics in %s", model_dir, self.metrics.path)
        return records


def check_state(saved: checkpoint.Checkpoint) -> None:
    """ValueError naming the file if the checkpoint's trainer state lacks a field of
    Trainer.state or holds a value of the wrong type (a damaged or hand-edited file)."""
    source = saved.directory / checkpoint.STATE_FILE
    for key, expected in STATE_FIELDS.items():
        if key not in saved.state:
            raise ValueError(f"{source}: the trainer state lacks {key!r}; the checkpoint is "
                             "damaged")
        value = saved.state[key]
        if not isinstance_json(value, expected) or (expected == (int,) and value < 0):
            raise ValueError(f"{source}: {key} is {value!r}, not a valid value; the checkpoint "
                             "is damaged or was edited by hand")


class TqdmWriteHandler(logging.StreamHandler):
    """A console handler that writes each record through tqdm.write, above the progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:   # as logging.StreamHandler.emit: report, never raise
            self.handleError(record)


@contextmanager
def console_logging_through(bar: tqdm):
    """A context in which the `llm` logger's console handler writes through tqdm.write (so it
    does not break the progress bar), with the console handler's own level, format and filters
    (tqdm's logging_redirect_tqdm drops the level: DEBUG lines reached the console); nothing
    changes when the logger has no console handler or the bar is off."""
    logger = logging.getLogger("llm")
    console = next((handler for handler in logger.handlers
                    if type(handler) is logging.StreamHandler), None)
    if console is None or bar.disable:
        yield
        return
    through = TqdmWriteHandler(console.stream)
    through.setLevel(console.level)
    through.setFormatter(console.formatter)
    for log_filter in console.filters:
        through.addFilter(log_filter)
    handlers = logger.handlers
    logger.handlers = [through if handler is console else handler for handler in handlers]
    try:
        yield
    finally:
        logger.handlers = handlers


class StopRequest:
    """A context in which Ctrl-C (SIGINT) only sets `requested`, so that the loop can finish
    its update and save a checkpoint; a second Ctrl-C raises KeyboardInterrupt at once.
    Outside the main thread signals cannot be caught and this does nothing."""

    def __init__(self):
        self.requested = False
        self.previous = None

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self.handle)
        return self

    def handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        log.warning("Ctrl-C: stopping after this step to save a checkpoint "
                    "(press Ctrl-C again to quit without saving)")

    def __exit__(self, *exc_info) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
