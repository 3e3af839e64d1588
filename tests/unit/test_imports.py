"""Structure checks: every module imports cleanly, and the layers import only downwards."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "common", "workers", "tools")
# Two interpreters run side by side; each imports every module of its packages.
IMPORT_GROUPS: tuple[tuple[str, ...], ...] = (("api", "common"), ("workers", "tools"))
ENV_READERS_ALLOWED = {"common/settings.py"}

# Imports each named module and prints {module: error} for those that fail.
CHILD = """
import importlib, json, sys
failures = {}
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except BaseException as error:
        failures[name] = f"{type(error).__name__}: {error}"
print(json.dumps(failures))
"""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources(*packages: str) -> list[Path]:
    return sorted(p for pkg in packages for p in (ROOT / pkg).rglob("*.py"))


def _modules(*packages: str) -> list[str]:
    return [_module_name(p) for p in _sources(*packages)]


def test_discovery_finds_the_known_modules():
    found = set(_modules(*PACKAGES))
    assert sorted(found) == sorted(name for group in IMPORT_GROUPS for name in _modules(*group))
    expected = {
        "api",
        "api.errors",
        "api.routes.cluster",
        "common.templating",
        "workers.remote.sigv4",
    }
    assert expected | {"tools.cli", "workers"} <= found


# every module imports in a fresh interpreter with warnings as errors


@pytest.fixture(scope="module")
def import_results() -> Iterator[dict[tuple[str, ...], subprocess.Popen[str]]]:
    # api.wsgi builds the app at import: it needs a Redis URL, but never connects.
    env = {**os.environ, "MODELGATE_REDIS_URL": "redis://127.0.0.1:1/0"}
    env.pop("PYTHONWARNINGS", None)
    procs = {
        group: subprocess.Popen(
            [sys.executable, "-W", "error", "-c", CHILD, *_modules(*group)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for group in IMPORT_GROUPS
    }
    yield procs
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("group", IMPORT_GROUPS, ids="+".join)
def test_every_module_imports_with_warnings_as_errors(import_results, group):
    proc = import_results[group]
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert json.loads(stdout.strip().splitlines()[-1]) == {}, stdout
    assert stderr == ""


# layering, read from the source text


def _imported_modules(path: Path) -> set[str]:
    """Every absolute module name path imports, statically or via importlib with a literal."""
    return _imports_in(
        path.read_text(encoding="utf-8"), _module_name(path), path.stem == "__init__"
    )


def _imports_in(source: str, module_name: str, is_package: bool) -> set[str]:
    tree = ast.parse(source)
    package = module_name.split(".")
    if not is_package:
        package.pop()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and _is_dynamic_import(node):
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.add(first.value)
    return names


def _is_dynamic_import(node: ast.Call) -> bool:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in {"import_module", "__import__"} and bool(node.args)


def _top_levels(path: Path) -> set[str]:
    return {name.split(".")[0] for name in _imported_modules(path) if name}


@pytest.mark.parametrize(
    ("source", "forbidden"),
    [
        ("common", {"api", "workers", "tools"}),
        ("api", {"workers", "tools"}),
        ("workers", {"api", "tools"}),
    ],
)
def test_layers_import_only_downwards(source, forbidden):
    offenders = {
        str(path.relative_to(ROOT)): sorted(_top_levels(path) & forbidden)
        for path in _sources(source)
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_layer_check_sees_real_imports():
    assert "common" in _top_levels(ROOT / "api" / "__init__.py")
    assert "common.templating" in _imported_modules(ROOT / "common" / "connectors.py")
    assert "workers.remote.sigv4" in _imported_modules(ROOT / "workers" / "remote" / "connector.py")


@pytest.mark.parametrize(
    ("source", "module", "is_package", "expected"),
    [
        ("import api.errors", "common.x", False, "api.errors"),
        ("from workers import app", "common.x", False, "workers.app"),
        ("from ..api import errors", "common.sub.x", False, "common.api.errors"),
        ("from . import store", "common.x", False, "common.store"),
        ("from .remote import http", "workers", True, "workers.remote.http"),
        ("from .. import errors", "workers.remote.x", False, "workers.errors"),
        ("importlib.import_module('api.routes')", "common.x", False, "api.routes"),
        ("def f():\n    import workers.tasks", "common.x", False, "workers.tasks"),
        ("__import__('tools.cli')", "common.x", False, "tools.cli"),
    ],
)
def test_layer_check_resolves_each_import_form(source, module, is_package, expected):
    assert expected in _imports_in(source, module, is_package)


def _reads_environment(source: str) -> bool:
    tree = ast.parse(source)
    env_names = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in env_names:
            if isinstance(node.value, ast.Name) and node.value.id == "os":
                return True
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            if any(alias.name in env_names for alias in node.names):
                return True
    return False


def test_only_settings_reads_the_environment():
    readers = {
        str(path.relative_to(ROOT))
        for path in _sources("api", "common", "workers")
        if _reads_environment(path.read_text(encoding="utf-8"))
    }
    assert readers == ENV_READERS_ALLOWED


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import os\nx = os.environ['A']", True),
        ("import os\nx = os.getenv('A')", True),
        ("import os\nenv = os.environ", True),
        ("from os import environ", True),
        ("from os import getenv as g", True),
        ("import os\nx = os.path.join('a')", False),
        ("x = 'os.environ in a string'", False),
    ],
)
def test_environment_check_detects_each_form(source, expected):
    assert _reads_environment(source) is expected
