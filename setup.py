"""Build the Cython extensions: one `llm/_ext/<name>.pyx` wraps one `csrc/<name>.c`.

Environment variables:
  LLM_ARCH_FLAGS   architecture flags, default "-march=native"; set e.g. "-march=x86-64-v2"
                   for a portable build (SIMD kernels still dispatch at run time).
  LLM_SANITIZE     e.g. "address": build with -fsanitize=... for memory checking
                   (run with LD_PRELOAD=$(gcc -print-file-name=libasan.so)).
  LLM_BUILD_ONLY   comma-separated extension names to build (development convenience).
"""
import os
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

# C files that an extension needs besides its own csrc/<name>.c. csrc/simd.c holds the SIMD
# level and csrc/threads.c the thread policy; a kernel module's .pyx shares runtime's copies of
# them on import (see csrc/simd.h).
EXTRA_SOURCES: dict[str, list[str]] = {
    "runtime": ["csrc/simd.c", "csrc/threads.c"],
    "matmul": ["csrc/simd.c", "csrc/threads.c"],
    "attention": ["csrc/simd.c", "csrc/threads.c"],
    "vecmath": ["csrc/simd.c", "csrc/threads.c"],
    "crossentropy": ["csrc/vecmath.c", "csrc/simd.c", "csrc/threads.c"],
    "activation": ["csrc/vecmath.c", "csrc/simd.c", "csrc/threads.c"],
    "layernorm": ["csrc/vecmath.c", "csrc/simd.c", "csrc/threads.c"],
    "word2vec": ["csrc/simd.c", "csrc/threads.c"],
    "bpe_train": ["csrc/pretokenize.c", "csrc/lookup.c"],
    "bpe_encode": ["csrc/pretokenize.c", "csrc/lookup.c"],
}


def compile_flags() -> tuple[list[str], list[str]]:
    compile_args = ["-O3", "-fopenmp", "-fno-math-errno"]
    link_args = ["-fopenmp"]
    compile_args += os.environ.get("LLM_ARCH_FLAGS", "-march=native").split()
    sanitize = os.environ.get("LLM_SANITIZE")
    if sanitize:
        compile_args += [f"-fsanitize={sanitize}", "-fno-omit-frame-pointer", "-g"]
        link_args += [f"-fsanitize={sanitize}"]
    return compile_args, link_args


def extensions() -> list[Extension]:
    only = {name for name in os.environ.get("LLM_BUILD_ONLY", "").split(",") if name}
    compile_args, link_args = compile_flags()
    headers = [str(h) for h in sorted(Path("csrc").glob("*.h"))]
    built = []
    for pyx in sorted(Path("llm/_ext").glob("*.pyx")):
        name = pyx.stem
        if only and name not in only:
            continue
        built.append(Extension(
            f"llm._ext.{name}",
            sources=[str(pyx), f"csrc/{name}.c", *EXTRA_SOURCES.get(name, [])],
            include_dirs=["csrc", numpy.get_include()],
            depends=headers,  # an edited header rebuilds what includes it
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
                           ("LLM_BUILD_FLAGS", '"' + " ".join(compile_args) + '"')],
            extra_compile_args=compile_args,
            extra_link_args=link_args,
        ))
    return built


setup(ext_modules=cythonize(extensions(), language_level=3,
                            compiler_directives={"embedsignature": True}))
