"""Build a real case from a small declarative world (a TOML rule case), for rule tests.

A rule case file, tests/rule_cases/<rule_id>.toml:

    description = "what the case shows"

    [[persons]]          # person_id, name, accounts (list), party_member, official, org_unit, position, rank
    [[relations]]        # person_id, other_id, relation
    [[windows]]          # as in rpa.toml
    [[events]]           # as in rpa.toml
    [params]             # parameter overrides for this rule, optional

    [[transactions]]     # txn_id, ts, payer, payee, amount, kind (default red_packet), status, channel, memo, packet_id
    [[expect]]           # one per finding the rule must give: subject, txn_ids (exactly its evidence)

Every transaction that is not in an [[expect]] block is a look-alike the rule must
stay quiet about: the test fails on any finding not expected.
"""

from __future__ import annotations

import csv
import tomllib
from pathlib import Path

from tests.helpers import rpa, write_canonical

CASES = Path(__file__).resolve().parent / "rule_cases"
TX_COLUMNS = ["txn_id", "ts", "payer", "payee", "amount", "kind", "status", "channel", "memo", "packet_id", "refund_ref", "direction"]


def _toml_value(v) -> str:
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def write_settings(path: Path, world: dict) -> None:
    """rpa.toml from the world's windows and events."""
    lines = []
    for section in ("windows", "events"):
        for item in world.get(section, []):
            lines.append(f"[[{section}]]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in item.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def build_case(folder: Path, world: dict) -> Path:
    """init + rpa.toml + roster + ingest of the world's transactions; returns the case folder."""
    assert rpa("init", folder).exit_code == 0
    write_settings(folder / "rpa.toml", world)
    persons = world.get("persons", [])
    if persons:
        people = folder / "people.csv"
        with open(people, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["person_id", "name", "accounts", "party_member", "official", "org_unit", "position", "rank"])
            for p in persons:
                w.writerow([
                    p["person_id"], p.get("name", ""), ";".join(p.get("accounts", [])),
                    "yes" if p.get("party_member") else "no", "yes" if p.get("official") else "no",
                    p.get("org_unit", ""), p.get("position", ""), p.get("rank", ""),
                ])
        args = ["roster", people]
        if world.get("relations"):
            rel = folder / "relations.csv"
            with open(rel, "w", encoding="utf-8", newline="") as f:
                w = csv.writer(f)
                w.writerow(["person_id", "other_id", "relation"])
                for r in world["relations"]:
                    w.writerow([r["person_id"], r["other_id"], r["relation"]])
            args += ["--relations", rel]
        result = rpa(*args, "--case", folder)
        assert result.exit_code == 0, result.output
    rows = []
    for t in world.get("transactions", []):
        row = {c: t.get(c, "") for c in TX_COLUMNS}
        row["kind"] = t.get("kind", "red_packet")
        row["status"] = t.get("status", "success")
        row["channel"] = t.get("channel", "wechat")
        row["amount"] = f"{t['amount']:.2f}" if isinstance(t["amount"], (int, float)) else t["amount"]
        rows.append(row)
    if rows:
        result = rpa("ingest", write_canonical(folder / "movements.csv", rows, TX_COLUMNS), "--case", folder)
        assert result.exit_code == 0, result.output
    return folder


def load_case(rule_id: str) -> dict:
    return tomllib.loads((CASES / f"{rule_id}.toml").read_text(encoding="utf-8"))
