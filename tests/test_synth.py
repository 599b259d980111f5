"""rpa synth: deterministic worlds whose every layout ingests back to the movements synth
made, and whose planted cases the rules find (recall 1.0) with nothing benign flagged."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from analyzer import synth as S
from tests.conftest import ROOT
from tests.helpers import query, rpa

SMALL = {"days": 365, "start": date(2025, 7, 1), "seed": 11, "movements": 1500}


def tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def load(world: Path, case: Path) -> None:
    assert rpa("init", case).exit_code == 0
    (case / "rpa.toml").write_bytes((world / "rpa.toml").read_bytes())
    r = rpa("roster", world / "people.csv", "--relations", world / "relations.csv", "--case", case)
    assert r.exit_code == 0, r.output
    subs = [world / s for s in ("wechat", "alipay", "tenpay", "canonical") if (world / s).exists()]
    r = rpa("ingest", *subs, "--case", case)
    assert r.exit_code == 0, r.output


def test_same_seed_same_files_other_seed_other_world(tmp_path):
    a = S.synth(S.Options(tmp_path / "a", fmt="mixed", **SMALL))
    S.synth(S.Options(tmp_path / "b", fmt="mixed", **SMALL))
    S.synth(S.Options(tmp_path / "c", fmt="mixed", **{**SMALL, "seed": 12}))
    assert a.files > 20 and a.movements >= 1400
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    assert tree_digest(tmp_path / "a") != tree_digest(tmp_path / "c")


def test_sample_data_is_what_synth_makes_with_the_sample_options(tmp_path):
    S.synth(S.Options(tmp_path / "sample", **S.SAMPLE_OPTIONS))
    made = tree_digest(tmp_path / "sample")
    committed = {k: v for k, v in tree_digest(ROOT / "sample_data").items() if k != "README.md"}
    assert made == committed


def expected_kind(truth: pd.DataFrame, ents: pd.DataFrame, fmt: str) -> pd.Series:
    """The kind ingest can know: a grabbed share is a group share when the export that
    shows it, or the sender's, ties it to its packet; else a plain red packet."""
    if fmt == "canonical":
        return truth["kind"]
    export = ents["export"].to_numpy()
    share = (truth["role"] == "share").to_numpy()
    sender = export[truth["payer"].to_numpy()]
    grabber = export[truth["payee"].clip(lower=0).to_numpy()]
    wechat = ("wechat_csv", "wechat_xlsx")
    linked = (sender == "tenpay") | (grabber == "canonical") | (pd.Series(grabber).isin(wechat).to_numpy()
                                                                & pd.Series(sender).isin([*wechat, "canonical"]).to_numpy())
    return pd.Series([("group_red_packet" if ok else "red_packet") if s else k for s, ok, k in zip(share, linked, truth["kind"])])


def counted(truth: pd.DataFrame) -> pd.DataFrame:
    """The movements a case counts: a group packet's money is its shares; its total row
    stands only for the part no share in the data accounts for (none in synth's worlds,
    whose packets are grabbed whole), and is not a movement when the shares cover it."""
    share_sum = truth[truth["role"] == "share"].groupby("pk")["fen"].sum()
    total = truth["role"] == "total"
    covered = truth["pk"].map(share_sum).fillna(0)
    rest = truth["fen"] - covered
    out = truth[~total | (rest > 0)].copy()
    out.loc[out["role"] == "total", "fen"] = rest[out.index[out["role"] == "total"]]
    return out.reset_index(drop=True)


@pytest.mark.parametrize("fmt", ["canonical", "wechat", "alipay", "tenpay", "mixed"])
def test_each_layout_ingests_back_to_the_movements_synth_made(tmp_path, fmt):
    made = S.synth(S.Options(tmp_path / "w", fmt=fmt, **SMALL), keep_truth=True)
    load(tmp_path / "w", tmp_path / "case")
    e = made.world.ents
    pid = pd.Series(list(e["pid"]) + [None], index=list(range(len(e))) + [-1])
    roster = pd.Series(list(e["roster"]) + [False], index=pid.index)
    t = counted(made.truth.reset_index(drop=True))
    kinds = expected_kind(t, e, fmt)
    want = Counter(
        (pid[a] if roster[a] else None, pid[b] if roster[b] else None, Decimal(f) / 100, ts.to_pydatetime(), k)
        for a, b, f, ts, k in zip(t["payer"], t["payee"], t["fen"], t["ts"], kinds)
    )
    got = Counter(
        (a, b, amt, ts, k)
        for a, b, amt, ts, k in query(tmp_path / "case", "SELECT payer_person, payee_person, amount, ts, kind FROM movements")
    )
    assert sum(want.values()) > (30 if fmt == "alipay" else 300)  # Alipay carries a few shops and loans
    assert got == want, (sorted((want - got).items())[:5], sorted((got - want).items())[:5])


@pytest.mark.parametrize("fmt", ["canonical", "mixed"])
def test_rules_find_every_planted_case_and_nothing_else(tmp_path, fmt):
    S.synth(S.Options(tmp_path / "w", fmt=fmt, **SMALL))
    labels = pd.read_csv(tmp_path / "w" / "labels.csv")
    # every rule of the library has planted cases
    assert set(labels["rule_id"]) == {p.stem for p in (ROOT / "queries").glob("*.sql")}
    load(tmp_path / "w", tmp_path / "case")
    assert rpa("scan", "--case", tmp_path / "case").exit_code == 0
    result = rpa("backtest", tmp_path / "w" / "labels.csv", "--format", "json", "--case", tmp_path / "case")
    report = json.loads(result.stdout)
    assert report["misses"] == [] and report["false_alarms"] == []
    assert report["overall"]["recall"] == 1.0 and report["overall"]["cases"] == len(labels)
    assert all(r["recall"] == 1.0 for r in report["rules"])


def test_bad_options_are_one_line_errors(tmp_path):
    r = rpa("synth", tmp_path / "x", "--format", "pdf")
    assert r.exit_code != 0 and "--format" in r.stderr
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    r = rpa("synth", tmp_path / "full")
    assert r.exit_code != 0 and "not empty" in r.stderr
    r = rpa("synth", tmp_path / "y", "--start", "2025-13-01")
    assert r.exit_code != 0 and "--start" in r.stderr


def test_cli_writes_roster_settings_labels_and_exports(tmp_path):
    r = rpa("synth", tmp_path / "w", "--movements", "800", "--format", "wechat", "--seed", "3")
    assert r.exit_code == 0, r.output
    w = tmp_path / "w"
    assert {"people.csv", "relations.csv", "rpa.toml", "labels.csv"} <= {p.name for p in w.iterdir()}
    assert list((w / "wechat").rglob("*.csv")) and list((w / "wechat").rglob("*.xlsx"))
    assert "[[windows]]" in (w / "rpa.toml").read_text(encoding="utf-8")
