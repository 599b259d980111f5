"""The wheel ships the SQL rules: `pip install .` works as well as `pip install -e .`."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_wheel_contains_the_queries_and_finds_them_installed(tmp_path):
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(ROOT)],
        capture_output=True, text=True,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("rpa-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"analyzer/queries/{p.name}" for p in (ROOT / "queries").iterdir() if p.is_file()}
    assert shipped and shipped <= names
    assert "analyzer/cli.py" in names and "analyzer/formats/wechat.py" in names
    # Installed (not editable, outside the checkout), queries_dir() finds the packaged copy.
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)], check=True)
    probe = subprocess.run(
        [sys.executable, "-c", "import analyzer.paths as p, analyzer; print(p.queries_dir()); print(analyzer.__file__)"],
        capture_output=True, text=True, cwd=tmp_path, env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
    )
    assert probe.returncode == 0, probe.stderr
    queries, module = probe.stdout.split()
    assert queries == str(target / "analyzer" / "queries")
    assert module.startswith(str(target))
