"""A non-editable install ships the whole service: the wheel holds every module and data file of
the project's packages, and every module imports from the wheel alone (not from this checkout)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("dispatch", "models", "webhooks", "status", "workers", "migrations")

IMPORT_ALL = """
import importlib, pkgutil, sys
# The checkout's editable install must not answer for the wheel.
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__.lower()]
sys.path[:] = [p for p in sys.path if "__editable__" not in p]
names = sys.argv[1:]
for name in names:
    module = importlib.import_module(name)
    assert module.__file__.startswith(sys.path[0]), (name, module.__file__)
print(len(names))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [built] = out.glob("sio_dispatch-*.whl")
    return built


def tracked() -> list[str]:
    """Every file of the project's packages (modules, templates, static files, data)."""
    listed = subprocess.run(["git", "ls-files", *PACKAGES], cwd=ROOT, capture_output=True, text=True, check=True)
    return sorted(listed.stdout.split())


def source_modules() -> list[str]:
    return [f for f in tracked() if f.endswith(".py")]


def test_the_wheel_holds_every_module_and_data_file(wheel):
    shipped = set(zipfile.ZipFile(wheel).namelist())
    assert [f for f in tracked() if f not in shipped] == []
    assert {"dispatch/data/communes.csv", "status/templates/base.html", "migrations/script.py.mako"} <= shipped


def test_every_module_imports_from_the_wheel(wheel, tmp_path):
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    names = []
    for path in source_modules():
        if path.startswith("migrations/"):  # Alembic's scripts, run by Alembic, not imported
            continue
        dotted = path.removesuffix(".py").replace("/", ".").removesuffix(".__init__")
        names.append(dotted)
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL, *names],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin", "SIO_INSTANCE_PATH": str(tmp_path / "i")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(proc.stdout.split()[-1]) == len(names) > 60
