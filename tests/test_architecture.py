"""The shape of the code: imports point one way (server -> layers -> geo), nothing imports in a
circle, every module imports on its own, and no module outgrows what one reader holds in mind."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("geo", "layers")
#: Lines a module may have (declarative tables and data aside).
MAX_LINES = 420


def _modules() -> dict[str, Path]:
    found = {"server": ROOT / "server.py"}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The project modules ``name`` imports at module level (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in tree.body:  # module level only: imports inside functions run later
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        out |= {n for n in names if n in MODULES and n != name}
    return out


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _all_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names.add((node.module or "").split(".")[0])
    return names


def test_geo_imports_neither_flask_nor_layers():
    for name, path in MODULES.items():
        if name.split(".")[0] == "geo":
            assert not _all_imports(path) & {"flask", "werkzeug", "layers", "server"}, name


#: the one subpackage of layers/ that is Flask glue (sessions, CSRF, headers, the accounts API)
WEB = "layers.web"


def test_layers_never_import_flask_or_the_server():
    """layers/ is Flask-free, except its web glue (layers/web/); nothing of layers imports the
    glue but the glue itself, and nothing imports the server."""
    for name, path in MODULES.items():
        if name.split(".")[0] != "layers":
            continue
        imports = _all_imports(path)
        assert "server" not in imports, name
        if name != WEB and not name.startswith(WEB + "."):
            assert not imports & {"flask", "werkzeug", "flask_login", "flask_wtf", "flask_limiter"}, name
            assert not any(dep == WEB or dep.startswith(WEB + ".") for dep in GRAPH[name]), name


def test_the_web_glue_is_where_flask_is():
    """layers/web/ exists and is where layers' Flask imports are (the test above is not vacuous)."""
    glue = [n for n in MODULES if n == WEB or n.startswith(WEB + ".")]
    assert glue and any("flask" in _all_imports(MODULES[n]) for n in glue)


def test_no_import_circle():
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for dep in sorted(GRAPH[node]):
            if state.get(dep) == 1:
                cycle = trail[trail.index(dep):] + [dep] if dep in trail else [node, dep]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep, trail + [dep])
        state[node] = 2

    for name in GRAPH:
        if name not in state:
            visit(name, [name])


@pytest.mark.parametrize("name", ["geo.export.formats", "geo.export.package", "geo.store.gpkg", "geo.inspect",
                                  "geo.inspect.crs_guess", "geo.inspect.safety", "geo.readers", "geo.readers.read",
                                  "layers.api.export",
                                  "layers.api.jobs", "layers.analysis.answer", "layers.map.standalone", "layers.cli", "layers.accounts",
                                  "layers.web.auth", "layers.web.routes", "layers.web.commands", "server",
                                  "bench.api", "bench.page", "bench.export", "bench.load", "bench.edits", "bench.peer"])
def test_each_module_imports_first_and_alone(name):
    """A fresh interpreter importing this module before any other of ours (what a circle breaks)."""
    done = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_no_module_is_too_long():
    sources = [*MODULES.values(), *(ROOT / "static").glob("*.js"), *(ROOT / "static").glob("*.css")]
    long = {str(p.relative_to(ROOT)): n for p in sources
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"
