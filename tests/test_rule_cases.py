"""Each rule against its own case file: the rows that must fire give exactly the
expected findings, and the look-alikes beside them give none."""

from __future__ import annotations

import json

import pytest

from tests.helpers import evidence_keys, movement_keys, query, rpa
from tests.rule_world import CASES, build_case, load_case

RULE_CASES = sorted(p.stem for p in CASES.glob("*.toml"))


@pytest.mark.parametrize("rule_id", RULE_CASES)
def test_rule_case(rule_id, tmp_path):
    world = load_case(rule_id)
    case = build_case(tmp_path / "case", world)
    args = ["scan", "--rule", rule_id, "--case", case]
    for key, value in world.get("params", {}).items():
        args += ["--param", f"{rule_id}.{key}={value}"]
    result = rpa(*args)
    assert result.exit_code == 0, result.output
    found = {}
    for fid, subject in query(case, "SELECT id, subject FROM findings WHERE rule = ?", [rule_id]):
        found[(subject, evidence_keys(case, fid))] = fid
    expected = {(e["subject"], movement_keys(case, e["txn_ids"])) for e in world.get("expect", [])}
    assert set(found) == expected, f"{rule_id}: found {sorted(found)}, expected {sorted(expected)}"
    # every finding explains itself: both reasons filled, the thresholds in them
    for fid in found.values():
        (zh, en, params, severity, score) = query(case, "SELECT reason_zh, reason_en, params, severity, score FROM findings WHERE id = ?", [fid])[0]
        assert zh and en and "{" not in zh and "{" not in en
        assert severity in ("high", "medium", "low") and 0 <= score <= 100
        assert json.loads(params)
    # the same evidence gives the same ids on a second scan
    again = rpa(*args)
    assert again.exit_code == 0
    assert sorted(r[0] for r in query(case, "SELECT id FROM findings WHERE rule = ?", [rule_id])) == sorted(found.values())
