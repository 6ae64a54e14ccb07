"""The deployable package: a wheel of the project, installed into a scratch virtualenv away from the
checkout and served there by gunicorn, finds its templates and static files (installed under
``<prefix>/share/weihai-atlas/``) and its layer data.

The scratch venv gets the project's dependencies from this test run's site-packages through a
``.pth`` path line, so nothing is downloaded; ``.pth`` files in that folder are not run, so the
editable install's finder (which maps ``server``, ``geo`` and ``layers`` to the checkout) is not
active there and the wheel's copy is what gets imported.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: what never goes into the build: caches, environments, local stores, test pictures
NOT_SOURCES = shutil.ignore_patterns(".git", ".venv", "build", "dist", "var", "__pycache__", ".pytest_cache",
                                     "*.egg-info", "artifacts", "*.gpkg", "*.gpkg-journal")


def _run(args, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(args, capture_output=True, text=True, timeout=180, **kwargs)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done


def _isolated_build_needed() -> bool:
    """Build without isolation (no download) when this environment's setuptools meets pyproject's
    ``setuptools>=68``; otherwise let pip fetch one for an isolated build."""
    try:
        return int(metadata.version("setuptools").split(".")[0]) < 68
    except metadata.PackageNotFoundError:
        return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers.get_content_type(), r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.headers.get_content_type(), e.read()


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A scratch venv with the project's wheel installed (no deps) and this run's packages importable."""
    tmp = tmp_path_factory.mktemp("package")
    source = tmp / "source"  # a copy: the build writes build/ and *.egg-info, never into the checkout
    shutil.copytree(ROOT, source, ignore=NOT_SOURCES)
    dist = tmp / "dist"
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "--no-deps",
             "-w", str(dist), str(source)]
    if not _isolated_build_needed():
        build.insert(-1, "--no-build-isolation")
    _run(build)
    wheels = list(dist.glob("weihai_atlas-*.whl"))
    assert len(wheels) == 1, wheels

    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    scratch_site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             cwd=tmp).stdout.strip())
    ours = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (scratch_site / "atlas-test-deps.pth").write_text("".join(f"{p}\n" for p in ours), encoding="utf-8")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--disable-pip-version-check",
          "--no-deps", "--no-index", str(wheels[0])])
    return venv


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.pop("ATLAS_STORE", None)
    return env


def test_the_wheel_is_what_the_scratch_venv_imports(installed, tmp_path):
    probe = ("import json, sys, server, geo, layers\n"
             "print(json.dumps({'files': [server.__file__, geo.__file__, layers.__file__],\n"
             "  'editable': [m for m in sys.modules if m.startswith('__editable__')]\n"
             "              + [repr(f) for f in sys.meta_path if 'editable' in repr(f).lower()],\n"
             "  'path': sys.path}))")
    out = json.loads(_run([str(installed / "bin" / "python"), "-c", probe], cwd=tmp_path, env=_env()).stdout)
    for file in out["files"]:
        assert Path(file).resolve().is_relative_to(installed.resolve()), out
    assert out["editable"] == [], out
    assert str(ROOT) not in out["path"], out
    share = installed / "share" / "weihai-atlas"
    assert sorted(p.name for p in (share / "static").iterdir()) == sorted(p.name for p in (ROOT / "static").iterdir())
    assert sorted(p.name for p in (share / "templates").iterdir()) == sorted(p.name for p in (ROOT / "templates").iterdir())


def test_gunicorn_serves_the_installed_package(installed, tmp_path):
    python = str(installed / "bin" / "python")
    store = tmp_path / "atlas.gpkg"
    env = _env()
    # the installed package builds its store from the layer data it ships
    _run([python, "-m", "layers.build", "--store", str(store)], cwd=tmp_path, env=env)
    assert store.is_file()

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    gunicorn = [python, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}", "--access-logfile", "-"]
    if "--no-control-socket" in _run([python, "-m", "gunicorn", "--help"], cwd=tmp_path, env=env).stdout:
        gunicorn.append("--no-control-socket")  # gunicorn 25+: leave ~/.gunicorn/ to the real server
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        server = subprocess.Popen([*gunicorn, "server:create_app()"], cwd=tmp_path,
                                  env={**env, "ATLAS_STORE": str(store)}, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, f"gunicorn exited:\n{log.read_text()}"
            try:
                status, kind, body = _get(f"{base}/")
                break
            except urllib.error.URLError as e:  # not listening yet; any other failure is the test's
                if not isinstance(e.reason, ConnectionRefusedError):
                    raise
                assert time.monotonic() < deadline, f"gunicorn did not answer:\n{log.read_text()}"
                time.sleep(0.2)

        page = body.decode("utf-8")
        assert (status, kind) == (200, "text/html"), f"{status} {page[:500]}\n{log.read_text()}"
        script = re.search(r'<script[^>]+src="([^"]*/static/atlas\.js\?[^"]+)"', page)
        assert script, page[:2000]

        status, kind, body = _get(base + script.group(1))
        assert status == 200 and kind in ("text/javascript", "application/javascript")
        assert body == (ROOT / "static" / "atlas.js").read_bytes()  # the installed copy of our file

        status, kind, body = _get(f"{base}/api/layers")
        assert (status, kind) == (200, "application/json")
        assert {layer["id"]: layer["count"] > 0 for layer in json.loads(body)["layers"]} == {
            "districts": True, "zones": True, "parks": True, "roads": True, "projects": True}

        status, kind, body = _get(f"{base}/ogc/collections?f=html&lang=zh")  # from templates/ogc/
        assert (status, kind) == (200, "text/html") and "roads" in body.decode("utf-8")

        status, kind, body = _get(f"{base}/no-such-page")
        error = body.decode("utf-8")
        assert (status, kind) == (404, "text/html")
        # rendered from templates/error.html
        assert "<title>404 · 精致威海规划图</title>" in error and "<h1>404 " in error and "Back to the map" in error
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
        print(log.read_text())  # shown when the test fails


def test_every_package_of_the_checkout_is_installed():
    """A package added without its line in pyproject.toml is missing from the wheel (and only an
    installed server would show it): every folder of geo/ and layers/ with an __init__.py is listed."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for top in ("geo", "layers") for p in (ROOT / top).rglob("__init__.py")}
    assert found - listed == set(), f"not in [tool.setuptools] packages: {sorted(found - listed)}"
