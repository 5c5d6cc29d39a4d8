"""The one SIMD level (csrc/simd.c), set through llm._ext.runtime: it reaches every extension
whose kernels dispatch on it, LLM_SIMD forces it for a process, and a bad name is refused."""
import importlib
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import llm
import llm._ext
from llm._ext import runtime
from llm._ext.matmul import gemm
from llm._ext.crossentropy import crossentropy_forward_backward
from llm._ext.vecmath import exp_sum


def extension_modules():
    return [importlib.import_module(f"llm._ext.{info.name}")
            for info in pkgutil.iter_modules(llm._ext.__path__) if info.name != "runtime"]


def test_every_extension_with_a_simd_state_reads_the_process_level():
    # An extension that compiles csrc/simd.c has its own copy of the level (Python loads
    # extensions with RTLD_LOCAL) unless its import pointed that copy at runtime's.
    with_state = {module.__name__ for module in extension_modules()
                  if b"llm_simd_share" in Path(module.__file__).read_bytes()}
    assert {"llm._ext.matmul", "llm._ext.attention", "llm._ext.vecmath",
            "llm._ext.word2vec"} <= with_state
    assert with_state == runtime.simd_modules()


def test_setting_a_level_reaches_the_kernels(simd_level):
    assert runtime.simd_level() == simd_level == llm.build_info()["simd"]
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 64, 64)).astype(np.float32)
    c = np.empty((64, 64), np.float32)
    gemm(c, a, b)
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)
    targets = rng.integers(0, 64, 64).astype(np.int32)
    loss = crossentropy_forward_backward(None, a, targets)
    exact = np.log(np.exp(a.astype(np.float64)).sum(axis=-1)) - a[np.arange(64), targets]
    np.testing.assert_allclose(loss, exact.mean(), rtol=1e-5)
    # The portable level is libm's expf, rounded correctly nearly always; the vector levels a
    # polynomial within 2 ulp: the level in force shows in the bits.
    x = rng.uniform(-80, 80, 100_000).astype(np.float32)
    out = np.empty_like(x)
    exp_sum(out, x)
    rounded_off = np.mean(out != np.exp(x.astype(np.float64)).astype(np.float32))
    assert rounded_off < 1e-3 if simd_level == "scalar" else rounded_off > 1e-2


def test_a_bad_name_is_a_value_error_naming_the_levels():
    with pytest.raises(ValueError, match="'sse'.*scalar, avx2, avx512"):
        runtime.set_simd_level("sse")


def run_with_llm_simd(value):
    code = "import llm; print(llm.build_info()['simd'])"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "LLM_SIMD": value})


def test_llm_simd_environment_variable_forces_the_process_level():
    assert run_with_llm_simd("scalar").stdout.strip() == "scalar"
    failed = run_with_llm_simd("sse")
    assert failed.returncode != 0 and "scalar, avx2, avx512" in failed.stderr
