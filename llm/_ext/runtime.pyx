"""Build facts and OpenMP thread control (wraps csrc/runtime.c)."""
# The C declarations come from runtime.pxd, which Cython includes automatically.
SIMD_NAMES = ("scalar", "avx2", "avx512")


def simd_level() -> str:
    """The widest SIMD instruction set the kernels use on this CPU."""
    return SIMD_NAMES[runtime_simd_level()]


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
