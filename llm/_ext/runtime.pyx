"""Build facts, the SIMD level and OpenMP thread control (wraps csrc/runtime.c, csrc/simd.c)."""
# The C declarations come from runtime.pxd, which Cython includes automatically.
import os

SIMD_NAMES = ("scalar", "avx2", "avx512")

# The modules whose kernels read the level held here (they call share_simd_level on import).
cdef set sharing_modules = set()


cdef llm_simd_state* process_simd_state(str module) except NULL:
    sharing_modules.add(module)
    return llm_simd_state_here()


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
    """Use n OpenMP threads in kernels started from the calling thread."""
    if n < 1:
        raise ValueError(f"n={n}: the number of threads must be at least 1")
    runtime_set_num_threads(n)


def compiler() -> str:
    return runtime_compiler().decode()


def build_flags() -> str:
    return runtime_build_flags().decode()


if os.environ.get("LLM_SIMD"):
    set_simd_level(os.environ["LLM_SIMD"])
