"""Compiled extensions: one Cython module per C file in csrc/.

Importing this package checks that the extensions were built, and fails at once with
instructions when they were not (a source checkout imported without building).
"""
try:
    from llm._ext import runtime  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised only on a broken install
    raise ImportError(
        "llm's compiled extensions are missing or stale. Build them with "
        "`pip install -e .` (or `python setup.py build_ext --inplace`) from the "
        f"source checkout. Original error: {error}"
    ) from error
