"""Build facts, the SIMD level and OpenMP thread control (wraps csrc/runtime.c, csrc/simd.c)."""
# The C declarations come from runtime.pxd, which Cython includes automatically.
import os

SIMD_NAMES = ("scalar", "avx2", "avx512")

# The modules whose kernels read the level held here (they call share_process_state on import).
cdef set sharing_modules = set()


cdef llm_simd_state* process_simd_state(str module) except NULL:
    sharing_modules.add(module)
    return llm_simd_state_here()


cdef llm_threads_state* process_threads_state() noexcept:
    return llm_threads_state_here()


def simd_level() -> str:
    """The SIMD instruction set every kernel runs: "scalar", "avx2" or "avx512"."""
    return SIMD_NAMES[llm_simd_level()]


def set_simd_level(name: str) -> str:
    """Run every kernel at SIMD level name ("scalar", "avx2" or "avx512"); a level this CPU
    lacks gives the widest it runs. Returns the level now in force.

    For testing and timing each level on one machine (LLM_SIMD=<name> in the environment does it
    for a whole process); not to be called while kernels run on other threads.
    """
    if name not in SIMD_NAMES:
        raise ValueError(f"SIMD level {name!r}: expected one of {', '.join(SIMD_NAMES)}")
    return SIMD_NAMES[llm_simd_set_level(SIMD_NAMES.index(name))]


def simd_modules() -> frozenset:
    """Names of the extension modules imported so far whose kernels read the level set here."""
    return frozenset(sharing_modules)


def max_threads() -> int:
    """OpenMP threads a kernel started from this thread will use."""
    return runtime_max_threads()


def set_num_threads(int n):
    """Use n OpenMP threads in kernels started from the calling thread, whatever the machine's
    load (ends the automatic thread count; see threads_automatic)."""
    if n < 1:
        raise ValueError(f"n={n}: the number of threads must be at least 1")
    llm_threads_fix(n)


def set_threads_automatic():
    """Let the machine's load set the thread count again (the default; csrc/threads.h)."""
    llm_threads_automate()


def threads_automatic() -> bool:
    """Whether kernels use all cores while they are free and fewer while other processes keep
    them busy (csrc/threads.h): the default, unless LLM_NUM_THREADS, OMP_NUM_THREADS or
    set_num_threads fixed a count."""
    return bool(llm_threads_automatic())


def threads_for_cores(double cores, int max_threads) -> int:
    """The thread count the automatic policy picks for `cores` free cores (for tests)."""
    return llm_threads_for_cores(cores, max_threads)


def free_cores() -> float | None:
    """Cores free to this process in the last measured window (machine idle time plus its own
    CPU time), or None before the first measurement or in a fixed-count process."""
    cores = llm_threads_free_cores()
    return None if cores < 0 else cores


def adapt_threads() -> int:
    """Apply the automatic policy to the calling thread now (kernels do it themselves); returns
    the thread count its next kernels will use."""
    with nogil:
        llm_threads_adapt()
    return runtime_max_threads()


def compiler() -> str:
    return runtime_compiler().decode()


def build_flags() -> str:
    return runtime_build_flags().decode()


if os.environ.get("LLM_SIMD"):
    set_simd_level(os.environ["LLM_SIMD"])
if os.environ.get("LLM_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS"):
    llm_threads_fix(0)  # the count OpenMP read from the environment stays
else:
    llm_threads_adapt()  # starts the first measuring window
