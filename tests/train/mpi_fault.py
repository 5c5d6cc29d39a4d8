"""`llm train` with a fault injected on one rank, for tests/train/test_distributed.py:

    mpiexec -n 2 python tests/train/mpi_fault.py FAULT RANK STEP llm-arguments...

FAULT happens on rank RANK right after its update STEP: "raise" (a RuntimeError), "kill"
(SIGKILL to itself) or "perturb" (its parameters drift from the other ranks').
"""
import os
import signal
import sys

from llm import cli
from llm.train.trainer import Trainer


def inject(fault: str, rank: int, step: int) -> None:
    train_step = Trainer.train_step

    def faulty_train_step(self, lr):
        loss = train_step(self, lr)
        if self.comm.rank == rank and self.step + 1 == step:
            if fault == "raise":
                raise RuntimeError("injected fault")
            if fault == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            if fault == "perturb":
                self.model.params.flat[0] += 1e-3
        return loss

    Trainer.train_step = faulty_train_step


if __name__ == "__main__":
    fault, rank, step, *arguments = sys.argv[1:]
    inject(fault, int(rank), int(step))
    sys.exit(cli.main(arguments))
