"""Build the Cython extensions: one `llm/_ext/<name>.pyx` wraps one `csrc/<name>.c`.

Environment variables:
  LLM_ARCH_FLAGS   architecture flags, default "-march=native"; set e.g. "-march=x86-64-v2"
                   for a portable build (SIMD kernels still dispatch at run time).
  LLM_SANITIZE     e.g. "address": build with -fsanitize=... for memory checking
                   (run with LD_PRELOAD=$(gcc -print-file-name=libasan.so)).
  LLM_BUILD_ONLY   comma-separated extension names to build (development convenience).

A pip install (editable or not) builds in temporary directories, so a second `pip install -e
".[test]"` after `pip install -e .` would compile every extension again (~3 min); build_ext
below reuses the extension already built in the source tree when it is newer than everything it
is made from and was built with the same flags, NumPy and Python (BUILD_STAMP).
"""
import json
import os
import shutil
import sys
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

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
    "pretokenize": ["csrc/simd.c", "csrc/threads.c"],
    "bpe_train": ["csrc/pretokenize.c", "csrc/lookup.c", "csrc/simd.c", "csrc/threads.c"],
    "bpe_encode": ["csrc/pretokenize.c", "csrc/lookup.c", "csrc/simd.c", "csrc/threads.c"],
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


# What an extension in llm/_ext/ was built with: reused only by a build with the same.
BUILD_STAMP = Path("llm/_ext/.build-stamp.json")


def build_settings() -> dict:
    compile_args, link_args = compile_flags()
    return {"compile": compile_args, "link": link_args, "numpy": numpy.__version__,
            "python": sys.version}


class ReusingBuildExt(build_ext):
    """build_ext that copies an up-to-date extension from the source tree instead of compiling
    it again (see the module docstring); it records its settings after every build."""

    def build_extension(self, ext: Extension) -> None:
        built = Path(*ext.name.split(".")[:-1], Path(self.get_ext_filename(ext.name)).name)
        target = Path(self.get_ext_fullpath(ext.name))
        if self.reusable(ext, built) and built.resolve() != target.resolve():
            print(f"reusing {built} (up to date, same build settings)")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(built, target)
            return
        super().build_extension(ext)

    def reusable(self, ext: Extension, built: Path) -> bool:
        if self.force or not built.is_file() or not BUILD_STAMP.is_file():
            return False
        if json.loads(BUILD_STAMP.read_text()) != build_settings():
            return False
        # Our own inputs only: the .pyx rather than the C Cython makes of it, and none of the
        # NumPy .pxd files cythonize adds to depends (pip's isolated build environment installs
        # them afresh, so they always look newer).
        inputs = [Path(f).with_suffix(".pyx") if f.startswith("llm/_ext/") else Path(f)
                  for f in [*ext.sources, *ext.depends]]
        inputs = [f for f in inputs if f.resolve().is_relative_to(Path.cwd())]
        inputs += [*Path("llm/_ext").glob("*.pxd"), Path("setup.py")]
        return built.stat().st_mtime > max(f.stat().st_mtime for f in inputs)

    def run(self) -> None:
        super().run()
        BUILD_STAMP.write_text(json.dumps(build_settings()))


setup(ext_modules=cythonize(extensions(), language_level=3,
                            compiler_directives={"embedsignature": True}),
      cmdclass={"build_ext": ReusingBuildExt})
