"""The committed sample_data loads as its README says: every layout, dedupe across them,
and the planted cases of labels.csv are what the scan finds."""

from __future__ import annotations

import csv
import json
import shutil
from decimal import Decimal

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


# The roster first, last and in between; the folders in several orders.
SAMPLE_ORDERS = [
    ("roster", "alipay", "canonical", "tenpay", "wechat"),
    ("wechat", "tenpay", "canonical", "alipay", "roster"),
    ("tenpay", "roster", "wechat", "alipay", "canonical"),
    ("canonical", "wechat", "roster", "tenpay", "alipay"),
]


def test_sample_data_gives_the_same_case_in_every_order_of_folders_and_roster(tmp_path):
    # What a case holds is a function of the exports and the roster, not of the order of
    # the commands (issue #12): the movements with the exports' ids, money, who is who,
    # and the findings of a scan.
    got = {}
    for i, order in enumerate(SAMPLE_ORDERS):
        case = tmp_path / f"case{i}"
        assert rpa("init", case).exit_code == 0
        shutil.copy(SAMPLE / "rpa.toml", case / "rpa.toml")
        for step in order:
            if step == "roster":
                result = rpa("roster", SAMPLE / "people.csv", "--relations", SAMPLE / "relations.csv", "--case", case)
            else:
                result = rpa("ingest", SAMPLE / step, "--case", case)
            assert result.exit_code == 0, (order, step, result.output)
        assert rpa("scan", "--case", case).exit_code == 0
        got[order] = (
            query(case, "SELECT count(*), sum(amount) FROM transactions")[0],
            query(case, "SELECT count(*) FROM duplicates")[0][0],
            query(case, """SELECT txn_id, ts, amount, kind, payer_person, payee_person, seen_by_payer, seen_by_payee
                           FROM transactions ORDER BY ALL"""),
            query(case, "SELECT rule, subject, total_amount, txn_count FROM findings ORDER BY ALL"),
        )
    first = got[SAMPLE_ORDERS[0]]
    assert first[0] == (2427, Decimal("374236.28")) and first[1] == 902
    assert len(first[3]) == 39
    assert [order for order, case in got.items() if case != first] == []
