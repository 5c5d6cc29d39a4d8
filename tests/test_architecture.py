"""The layers of DESIGN.md, enforced: the import-linter contract in pyproject.toml holds for the
package, and it does fail when a module imports the wrong way or two modules import each other."""
import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("importlinter")

ROOT = Path(__file__).resolve().parent.parent


def lint_imports(root: Path, contract: str | None = None) -> subprocess.CompletedProcess:
    """lint-imports over the package in root (its llm/ and pyproject.toml), all contracts or
    the one whose id is contract, in a fresh process so that root's llm is the one analysed."""
    only = (contract,) if contract else ()
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, "
            f"no_logo=True, limit_to_contracts={only!r}))")
    return subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, timeout=120)


def test_the_package_keeps_its_layers_and_has_no_cycles():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_the_web_stack_is_imported_by_llm_serve_only():
    """The serve extra stays optional: no module outside llm/serve imports it."""
    for path in (ROOT / "llm").rglob("*.py"):
        if path.parent.name == "serve" and path.parent.parent.name == "llm":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not {name.split(".")[0] for name in names} & {"starlette", "uvicorn"}, path


@pytest.fixture
def package_copy(tmp_path):
    """The package's Python sources and pyproject.toml copied into tmp_path."""
    shutil.copytree(ROOT / "llm", tmp_path / "llm",
                    ignore=shutil.ignore_patterns("*.so", "*.c", "__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


@pytest.mark.parametrize("module, line, contract", [
    ("llm/model/upward.py", "from llm.train import trainer", "layers"),          # up a layer
    ("llm/tokenizer/sideways.py", "import llm.embeddings.word2vec", "layers"),   # unnamed peer
    ("llm/util/sideways.py", "import llm._ext.runtime", "layers"),               # sibling
    ("llm/model/cycle.py", "import llm.model.gpt", "acyclic"),
])
def test_a_wrong_way_import_breaks_the_contract(package_copy, module, line, contract):
    assert lint_imports(package_copy, contract).returncode == 0
    (package_copy / module).write_text(line + "\n")
    if contract == "acyclic":   # and the other way round
        gpt = package_copy / "llm/model/gpt.py"
        gpt.write_text(gpt.read_text() + "\nimport llm.model.cycle  # noqa\n")
    result = lint_imports(package_copy, contract)
    assert result.returncode == 1 and "BROKEN" in result.stdout, result.stdout
