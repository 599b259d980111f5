"""rpa demo: one command makes a case from the sample world and shows the findings."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.helpers import query, rpa


def test_demo_makes_a_scanned_case_whose_findings_are_the_planted_cases(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative folder, as a user types it
    case = tmp_path / "demo"
    result = rpa("demo", "demo")
    assert result.exit_code == 0, result.output
    assert "findings from" in result.stdout and "rpa findings --case" in result.stdout
    # the last line is the report's index page, recorded in the case with its manifest's hash
    index = Path(result.stdout.strip().splitlines()[-1])
    assert index.is_file() and index.name == "index.html" and index.is_relative_to(case / "reports")
    assert Path(query(case, "SELECT path FROM reports")[0][0]).is_absolute()
    manifest = index.parent / "manifest.json"
    assert query(case, "SELECT sha256 FROM reports") == [(hashlib.sha256(manifest.read_bytes()).hexdigest(),)]
    assert len(list((index.parent / "findings").glob("*.html"))) == query(case, "SELECT count(*) FROM findings")[0][0]
    assert (case / "data" / "labels.csv").is_file() and (case / "rpa.toml").is_file()
    (n,) = query(case, "SELECT count(*) FROM findings")[0]
    assert n > 20
    report = json.loads(rpa("backtest", case / "data" / "labels.csv", "--format", "json", "--case", case).stdout)
    assert report["overall"]["recall"] == 1.0 and report["false_alarms"] == []


def test_demo_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "f").write_text("x")
    result = rpa("demo", tmp_path / "x")
    assert result.exit_code != 0 and "not empty" in result.stderr
