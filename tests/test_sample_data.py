"""The committed sample_data loads as its README says: every layout, dedupe across them,
and the planted cases of labels.csv are what the scan finds."""

from __future__ import annotations

import csv
import json
import shutil

from tests.conftest import ROOT
from tests.helpers import query, rpa

SAMPLE = ROOT / "sample_data"


def test_sample_data_loads_every_layout_and_its_planted_cases_are_found(tmp_path):
    case = tmp_path / "demo"
    assert rpa("init", case).exit_code == 0
    roster = rpa("roster", SAMPLE / "people.csv", "--relations", SAMPLE / "relations.csv", "--case", case)
    assert roster.exit_code == 0, roster.output
    result = rpa("ingest", SAMPLE, "--case", case)
    assert result.exit_code == 0, result.output
    formats = {r[0] for r in query(case, "SELECT DISTINCT format FROM sources")}
    assert formats == {"alipay_app_2023", "canonical_csv", "tenpay_27", "wechat_csv", "wechat_xlsx"}
    # both parties' exports show many movements: the second sighting is a duplicate
    (dups,) = query(case, "SELECT count(*) FROM duplicates")[0]
    assert dups > 100
    with open(SAMPLE / "people.csv", encoding="utf-8") as f:
        persons = sum(1 for _ in csv.DictReader(f))
    assert query(case, "SELECT count(*) FROM persons") == [(persons,)]
    shutil.copy(SAMPLE / "rpa.toml", case / "rpa.toml")
    assert rpa("scan", "--case", case).exit_code == 0
    report = json.loads(rpa("backtest", SAMPLE / "labels.csv", "--format", "json", "--case", case).stdout)
    assert report["overall"]["recall"] == 1.0 and report["false_alarms"] == []
