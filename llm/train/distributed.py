"""Data-parallel ranks: the collectives training needs, over MPI or over nothing at all.

`mpiexec -n N llm train ...` starts N processes, the ranks. Each builds the same model from the
same seed, computes the gradients of its rows of every global batch, and the ranks keep their
parameters identical through the collectives below, over MPI_COMM_WORLD (mpi4py, the `[mpi]`
extra, imported here and only when mpiexec started more than one process).

    Communicator      one process: every collective is the identity, so the trainer has one
                      code path and a single-process run computes exactly what it always did
    MPICommunicator   N processes; it times its collectives (`seconds`) and, inside
                      fail_together(), turns an error on any rank into an MPI abort of every rank

Shards (ZeRO stage 1, llm.train.data_parallel): rank r owns elements
[r * n // N, (r + 1) * n // N) of an n-element flat buffer.
"""
import itertools
import logging
import os
import socket
import sys
import time
import traceback
import zlib
from contextlib import contextmanager

import numpy as np

log = logging.getLogger(__name__)

# Set by the launchers to the number of processes they started: MPICH's and Intel MPI's hydra,
# Open MPI's mpirun.
LAUNCHER_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE")
INSTALL_HINT = 'pip install -e ".[mpi]" (mpi4py and the mpich wheel, which brings mpiexec)'
# Seconds between printing why a rank stops and aborting every rank: time for mpiexec to
# forward the message before the abort tears the job down (without it, it was lost in ~1 of 10
# runs where every rank fails at once).
ABORT_DELAY = 1.0
# Errors whose message says it all: printed as one line, without a traceback.
EXPLAINED_ERRORS = (ValueError, OSError, MemoryError, KeyboardInterrupt)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped training after a checkpoint, on every rank at the same step."""


class RanksDisagree(RuntimeError):
    """Values that must be identical on every rank (the parameters) differ."""


class Communicator:
    """A single process: rank 0 of 1, every collective the identity.

    Arrays are 1-D NumPy arrays; `buffer` arguments are float32 flat buffers (the model's
    parameters or gradients), `values` small sequences of numbers.
    """

    rank, size = 0, 1
    seconds = 0.0   # time spent in collectives since creation (none here)

    def shard(self, n: int) -> slice:
        """This rank's part of an n-element buffer: [rank * n // size, (rank + 1) * n // size)."""
        return slice(self.rank * n // self.size, (self.rank + 1) * n // self.size)

    def sum(self, values) -> np.ndarray:
        """(k,) float64: values (k numbers) summed over the ranks, on every rank."""
        return np.asarray(values, dtype=np.float64)

    def any(self, flag: bool) -> bool:
        """True on every rank when flag is true on any."""
        return bool(flag)

    def sum_buffer(self, buffer: np.ndarray) -> None:
        """buffer (n,) float32 in place: its sum over the ranks, on every rank (all-reduce)."""

    def reduce_scatter(self, buffer: np.ndarray) -> np.ndarray:
        """Reduce-scatter in place: the sum over the ranks of buffer[shard(n)], written at the
        start of buffer (the rest of it is left undefined); returns that view."""
        shard = self.shard(buffer.size)
        return buffer[:shard.stop - shard.start]

    def all_gather(self, buffer: np.ndarray) -> None:
        """buffer (n,) in place: every rank's shard from its owner, on every rank (all-gather)."""

    def gather(self, part: np.ndarray, n: int) -> np.ndarray | None:
        """(n,) float32 on rank 0: each rank's part (its shard of an n-element buffer, a copy
        here) at the shard's place; None on the other ranks."""
        return part.copy()

    def check_identical(self, buffer: np.ndarray, what: str) -> None:
        """RanksDisagree on every rank when buffer's bytes differ between ranks (compared by a
        CRC-32 of each rank's copy)."""

    def describe(self) -> str:
        """For the log: the ranks, and which process each is."""
        return "one process"

    @contextmanager
    def fail_together(self):
        """A context in which an error on one rank stops every rank (nothing to do here)."""
        yield


class MPICommunicator(Communicator):
    """The ranks of an mpi4py communicator (connect() passes COMM_WORLD). processes: each
    rank's (host name, pid), gathered once (a launcher reporting a killed pid names its rank
    through describe())."""

    def __init__(self, comm):
        from mpi4py import MPI

        self.MPI, self.comm = MPI, comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.seconds = 0.0
        self.processes = comm.allgather((socket.gethostname(), os.getpid()))

    @contextmanager
    def timed(self):
        """Adds the time spent in the block to `seconds`."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - started

    def bounds(self, n: int) -> tuple[list[int], list[int]]:
        """(counts, displacements) of the ranks' shards of an n-element buffer."""
        starts = [rank * n // self.size for rank in range(self.size + 1)]
        return [stop - start for start, stop in itertools.pairwise(starts)], starts[:-1]

    def sum(self, values) -> np.ndarray:
        values = np.array(values, dtype=np.float64)
        with self.timed():
            self.comm.Allreduce(self.MPI.IN_PLACE, values, op=self.MPI.SUM)
        return values

    def any(self, flag: bool) -> bool:
        with self.timed():
            return bool(self.comm.allreduce(int(bool(flag)), op=self.MPI.MAX))

    def sum_buffer(self, buffer: np.ndarray) -> None:
        with self.timed():
            self.comm.Allreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.SUM)

    def reduce_scatter(self, buffer: np.ndarray) -> np.ndarray:
        counts, _ = self.bounds(buffer.size)
        with self.timed():
            self.comm.Reduce_scatter(self.MPI.IN_PLACE, buffer, counts, op=self.MPI.SUM)
        return buffer[:counts[self.rank]]

    def all_gather(self, buffer: np.ndarray) -> None:
        counts, displacements = self.bounds(buffer.size)
        with self.timed():
            self.comm.Allgatherv(self.MPI.IN_PLACE,
                                 [buffer, counts, displacements, self.MPI.FLOAT])

    def gather(self, part: np.ndarray, n: int) -> np.ndarray | None:
        counts, displacements = self.bounds(n)
        whole = np.empty(n, dtype=np.float32) if self.rank == 0 else None
        with self.timed():
            self.comm.Gatherv(part, [whole, counts, displacements, self.MPI.FLOAT] if whole
                              is not None else None, root=0)
        return whole

    def check_identical(self, buffer: np.ndarray, what: str) -> None:
        checksums = self.comm.allgather(zlib.crc32(buffer))
        if len(set(checksums)) > 1:
            listed = ", ".join(f"rank {rank} {checksum:08x}"
                               for rank, checksum in enumerate(checksums))
            raise RanksDisagree(f"{what} differ between the ranks (CRC-32: {listed}); they no "
                                "longer train the same model, so training stops. Resume from "
                                "the last checkpoint; if it happens again, check that every "
                                "machine runs the same build of llm-from-scratch")

    def describe(self) -> str:
        return f"{self.size} ranks (" + ", ".join(
            f"rank {rank}: pid {pid} on {host}"
            for rank, (host, pid) in enumerate(self.processes)) + ")"

    @contextmanager
    def fail_together(self):
        """A context in which an exception on this rank (other than the agreed Interrupted)
        prints `llm: rank R of N: <cause>` on stderr and aborts every rank through MPI, so
        that none waits forever in a collective."""
        try:
            yield
        except Interrupted:
            raise
        except BaseException as error:   # every error must stop every rank
            log.debug("rank %d failed", self.rank, exc_info=True)
            if not isinstance(error, EXPLAINED_ERRORS + (RanksDisagree,)):
                traceback.print_exc(file=sys.stderr)
            if isinstance(error, KeyboardInterrupt):
                cause = "interrupted"
            elif isinstance(error, EXPLAINED_ERRORS):
                cause = f"error: {error}"
            else:
                cause = f"{type(error).__name__}: {error}"
            sys.stderr.write(f"llm: rank {self.rank} of {self.size}: {cause}; stopping every "
                             "rank\n")
            sys.stderr.flush()
            time.sleep(ABORT_DELAY)
            self.comm.Abort(1)


ONE_PROCESS = Communicator()   # the default of the functions that take ranks


def launched_size() -> int:
    """How many processes the MPI launcher (mpiexec) started; 1 without a launcher."""
    for variable in LAUNCHER_SIZE_VARIABLES:
        value = os.environ.get(variable, "")
        if value.isdigit():
            return int(value)
    return 1


def connect() -> Communicator:
    """The ranks this process belongs to: an MPICommunicator over COMM_WORLD when mpiexec
    started more than one process, else a single-process Communicator (mpi4py not imported).
    ValueError when mpiexec started several processes but mpi4py is missing or bound to
    another MPI than that mpiexec's."""
    size = launched_size()
    if size == 1:
        return ONE_PROCESS
    try:
        from mpi4py import MPI
    except ImportError:
        raise ValueError(f"mpiexec started {size} processes, but mpi4py is not installed, so "
                         f"each would train alone; install the mpi extra: {INSTALL_HINT}") \
            from None
    if MPI.COMM_WORLD.Get_size() != size:
        raise ValueError(f"mpiexec started {size} processes, but MPI sees "
                         f"{MPI.COMM_WORLD.Get_size()}: mpi4py is built against another MPI "
                         "than this mpiexec; use the mpiexec of the MPI mpi4py links "
                         "(`python -c 'import mpi4py; print(mpi4py.get_config())'`)")
    return MPICommunicator(MPI.COMM_WORLD)
