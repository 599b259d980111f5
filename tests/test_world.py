"""End to end: one world holding every rule's planted cases among ordinary life.

The rule case files are merged into one case (each case's people, accounts, ids,
windows and units prefixed so that the cases do not share anyone), every rule runs
over all of it, and then:
- every planted finding is found by its rule, with exactly its evidence;
- no finding, of any rule, rests on a benign movement: a shop payment, a packet
  between declared family members, an AA share among colleagues."""

from __future__ import annotations

from tests.helpers import evidence_keys, movement_keys, query, rpa
from tests.rule_world import CASES, build_case, load_case


def namespaced(prefix: str, world: dict) -> dict:
    """The world with every identity made unique to this case."""
    def p(value):
        return f"{prefix}{value}" if isinstance(value, str) and value else value

    out = {"persons": [], "relations": [], "windows": [], "events": [], "transactions": []}
    for person in world.get("persons", []):
        out["persons"].append({**person, "person_id": p(person["person_id"]), "accounts": [p(a) for a in person.get("accounts", [])],
                               "org_unit": p(person.get("org_unit", ""))})
    for r in world.get("relations", []):
        out["relations"].append({**r, "person_id": p(r["person_id"]), "other_id": p(r["other_id"])})
    for w in world.get("windows", []):
        out["windows"].append({**w, "name": p(w["name"]), **({"org_unit": p(w["org_unit"])} if w.get("org_unit") else {})})
    for e in world.get("events", []):
        out["events"].append({**e, "person_id": p(e["person_id"])})
    for t in world.get("transactions", []):
        out["transactions"].append({**t, **{k: p(t[k]) for k in ("txn_id", "payer", "payee", "packet_id", "refund_ref") if t.get(k)}})
    return out


def test_every_planted_case_is_found_and_nothing_benign_is_flagged(tmp_path):
    merged = {"persons": [], "relations": [], "windows": [], "events": [], "transactions": []}
    planted = set()
    for i, path in enumerate(sorted(CASES.glob("*.toml"))):
        world = load_case(path.stem)
        prefix = f"C{i:02d}_"
        part = namespaced(prefix, world)
        for key in merged:
            merged[key] += part[key]
        for e in world.get("expect", []):
            planted.add((path.stem, prefix + e["subject"], tuple(prefix + t for t in e["txn_ids"])))
    assert len(planted) >= 10
    case = build_case(tmp_path / "world", merged)
    result = rpa("scan", "--case", case)
    assert result.exit_code == 0, result.output

    found = set()
    for fid, rule, subject in query(case, "SELECT id, rule, subject FROM findings"):
        txns = evidence_keys(case, fid)
        found.add((rule, subject, txns))
    planted = {(rule, subject, movement_keys(case, txns)) for rule, subject, txns in planted}
    missed = planted - found
    assert not missed, f"planted cases not found: {sorted(missed)}"

    benign = query(
        case,
        """
        SELECT DISTINCT f.rule, t.txn_id,
               CASE WHEN t.kind = 'merchant' THEN 'shop payment'
                    WHEN fam.person_id IS NOT NULL THEN 'family packet'
                    ELSE 'AA share among colleagues' END
        FROM findings f
        JOIN finding_evidence e ON e.finding_id = f.id
        JOIN movements t ON t.id = e.transaction_id
        LEFT JOIN relations fam ON fam.relation = 'family'
             AND ((fam.person_id = t.payer_person AND fam.other_id = t.payee_person)
               OR (fam.other_id = t.payer_person AND fam.person_id = t.payee_person))
        LEFT JOIN relations col ON col.relation = 'colleague'
             AND ((col.person_id = t.payer_person AND col.other_id = t.payee_person)
               OR (col.other_id = t.payer_person AND col.person_id = t.payee_person))
        WHERE t.kind = 'merchant' OR fam.person_id IS NOT NULL
           OR (col.person_id IS NOT NULL AND regexp_matches(upper(coalesce(t.memo, '')), 'AA|群收款') AND t.amount <= 500)
        """,
    )
    assert benign == [], f"benign movements flagged: {benign}"
