#!/usr/bin/env bash
# Build the extensions with AddressSanitizer in a copy of the tree and run the tests that drive C:
# the kernels, the tokenizer, the model, and the fuzzed readers. Run before every change to
# csrc/ (.ci/run runs it too). Usage: scripts/asan_tests.sh [pytest args...]
#
# The copy keeps the normal in-place build untouched. Python itself is not instrumented, so ASan's
# runtime is preloaded; leak checking is off (the interpreter keeps memory to the end by design).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
copy=$(mktemp -d /tmp/llm-asan.XXXXXX)
trap 'rm -rf "$copy"' EXIT

git ls-files -z | xargs -0 cp --parents -t "$copy"
# setup.py run directly needs the build requirements (pip installs them only in its own isolated
# build environment): pyproject.toml's [build-system] requires.
python -c "import Cython, setuptools" 2> /dev/null \
    || python -m pip install --quiet "setuptools>=64" "Cython>=3.0"
cd "$copy"
echo "building with LLM_SANITIZE=address in $copy ..."
LLM_SANITIZE=address python setup.py -q build_ext --inplace > build.log 2>&1 \
    || { tail -30 build.log; exit 1; }

export LD_PRELOAD=$(gcc -print-file-name=libasan.so)
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export LLM_CORPORA=${LLM_CORPORA:-$root/../shared/corpora}
# -p no:cacheprovider: nothing written into the copy's parent; the architecture test reads the
# installed package's metadata and is not about memory, so it is left out.
PYTHONPATH="$copy" python -m pytest -q -p no:cacheprovider tests/kernels tests/tokenizer \
    tests/model tests/test_fuzz_readers.py tests/test_runtime.py "$@"
