"""The learning-rate schedule: linear warm-up, then cosine decay to a floor (nanoGPT's).

    step < warmup_iters:            lr = max_lr * (step + 1) / (warmup_iters + 1)
    warmup_iters <= step <= decay:  lr = min_lr + (max_lr - min_lr) * (1 + cos(pi * r)) / 2,
                                    r = (step - warmup_iters) / (decay_iters - warmup_iters)
    step > decay_iters:             lr = min_lr

`step` counts updates from 0 (the first update uses step 0).
"""
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class CosineSchedule:
    """max_lr, min_lr: learning rates (min_lr <= max_lr); warmup_iters: updates of linear warm-up;
    decay_iters: the update at which the cosine reaches min_lr (usually max_iters)."""

    max_lr: float
    min_lr: float
    warmup_iters: int
    decay_iters: int

    def __post_init__(self):
        if not (math.isfinite(self.max_lr) and self.max_lr > 0):
            raise ValueError(f"learning rate {self.max_lr}: must be a finite number > 0")
        if not (math.isfinite(self.min_lr) and 0 <= self.min_lr <= self.max_lr):
            raise ValueError(f"min_lr={self.min_lr}: must lie in [0, lr={self.max_lr}]")
        if self.warmup_iters < 0:
            raise ValueError(f"warmup_iters={self.warmup_iters}: must be >= 0")
        if self.decay_iters < self.warmup_iters:
            raise ValueError(f"lr_decay_iters={self.decay_iters} is shorter than "
                             f"warmup_iters={self.warmup_iters}; decay must end after the warm-up")

    def __call__(self, step: int) -> float:
        """The learning rate of update `step` (0-based)."""
        if step < self.warmup_iters:
            return self.max_lr * (step + 1) / (self.warmup_iters + 1)
        if step >= self.decay_iters:
            return self.min_lr
        ratio = (step - self.warmup_iters) / (self.decay_iters - self.warmup_iters)
        return self.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (self.max_lr - self.min_lr)
