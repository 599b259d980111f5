"""`rpa roster`: who is who. Loads persons, their aliases and their relations.

A roster load replaces the previous one whole, in one transaction, and only when
every row is valid: a half-loaded roster would silently change what the rules see.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from analyzer.db import transaction
from analyzer.errors import RosterError
from analyzer.formats.base import decode_bytes, normalize_account
from analyzer.ingest.consolidate import derive_after_roster
from analyzer.ingest.stage import resolve_accounts

PEOPLE_COLUMNS = ("person_id", "name", "accounts", "party_member", "official", "org_unit", "position", "rank")
RELATION_COLUMNS = ("person_id", "other_id", "relation")
RELATIONS = ("subordinate", "service_object", "family", "colleague")
TRUE = {"yes", "y", "是", "true", "t", "1", "x", "✓"}
FALSE = {"no", "n", "否", "false", "f", "0", ""}


@dataclass
class RosterResult:
    """What a roster load did."""

    persons: int = 0
    aliases: int = 0
    relations: int = 0
    accounts_resolved: int = 0
    ambiguous: list[str] = field(default_factory=list)  # aliases claimed by several persons


def _read_csv(path: Path, required: tuple[str, ...], what: str) -> tuple[list[str], list[tuple[int, dict]]]:
    try:
        text, _ = decode_bytes(path.read_bytes())
    except OSError as exc:
        raise RosterError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise RosterError(f"{path}: not UTF-8 or GBK text") from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip().lstrip("\ufeff") for h in next(reader)]
    except StopIteration:
        raise RosterError(f"{path}: empty {what} file") from None
    missing = [c for c in required if c not in header]
    if missing:
        raise RosterError(f"{path}: {what} file lacks the column(s) {', '.join(missing)} (header: {', '.join(header)})")
    rows = []
    for cells in reader:
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise RosterError(f"{path}:{reader.line_num}: {len(header)} columns expected, {len(cells)} found")
        rows.append((reader.line_num, {h: c.strip() for h, c in zip(header, cells)}))
    return header, rows


def _flag(value: str, path: Path, line: int, column: str) -> bool:
    v = value.strip().lower()
    if v in TRUE:
        return True
    if v in FALSE:
        return False
    raise RosterError(f"{path}:{line}: {column} must be yes/no (是/否, true/false, 1/0), not {value!r}")


def load_roster(
    con: duckdb.DuckDBPyConnection, people_csv: Path, relations_csv: Path | None = None, actor: str | None = None
) -> RosterResult:
    """Replace the roster with the people (and relations) files; resolve accounts.
    The load is recorded in the audit log as `actor` (default: the OS user)."""
    header, rows = _read_csv(people_csv, ("person_id",), "people")
    extra_cols = [h for h in header if h not in PEOPLE_COLUMNS]
    persons, aliases, seen = [], [], {}
    for line, r in rows:
        pid = r["person_id"]
        if not pid:
            raise RosterError(f"{people_csv}:{line}: empty person_id")
        if pid in seen:
            raise RosterError(f"{people_csv}:{line}: person_id {pid} already on line {seen[pid]}")
        seen[pid] = line
        rank = r.get("rank", "")
        if rank and not rank.lstrip("-").isdigit():
            raise RosterError(f"{people_csv}:{line}: rank must be an integer, not {rank!r}")
        persons.append(
            (
                pid,
                r.get("name") or None,
                _flag(r.get("party_member", ""), people_csv, line, "party_member"),
                _flag(r.get("official", ""), people_csv, line, "official"),
                r.get("org_unit") or None,
                r.get("position") or None,
                int(rank) if rank else None,
                json.dumps({c: r[c] for c in extra_cols}, ensure_ascii=False) if extra_cols else None,
            )
        )
        # The real name is an alias too: Tenpay and Alipay show real names.
        names = [a for a in r.get("accounts", "").replace("；", ";").split(";")] + [r.get("name", "")]
        for alias in dict.fromkeys(a.strip() for a in names if a.strip()):
            aliases.append((pid, alias, normalize_account(alias)))

    relations = []
    if relations_csv is not None:
        rheader, rrows = _read_csv(relations_csv, RELATION_COLUMNS, "relations")
        rextra = [h for h in rheader if h not in RELATION_COLUMNS]
        for line, r in rrows:
            for col in ("person_id", "other_id"):
                if r[col] not in seen:
                    raise RosterError(f"{relations_csv}:{line}: {col} {r[col]!r} is not in {people_csv.name}")
            rel = r["relation"].strip().lower()
            if rel not in RELATIONS:
                raise RosterError(f"{relations_csv}:{line}: relation must be one of {', '.join(RELATIONS)}, not {r['relation']!r}")
            if r["person_id"] == r["other_id"]:
                raise RosterError(f"{relations_csv}:{line}: a person cannot be related to himself")
            relations.append(
                (r["person_id"], r["other_id"], rel, json.dumps({c: r[c] for c in rextra}, ensure_ascii=False) if rextra else None)
            )

    with transaction(con):
        con.execute("DELETE FROM relations; DELETE FROM person_accounts; DELETE FROM persons")
        if persons:
            con.executemany("INSERT INTO persons VALUES (?, ?, ?, ?, ?, ?, ?, ?)", persons)
        if aliases:
            con.executemany("INSERT INTO person_accounts VALUES (?, ?, ?)", aliases)
        if relations:
            con.executemany("INSERT INTO relations VALUES (?, ?, ?, ?)", relations)
        resolve_accounts(con)
        _audit_roster(con, people_csv, relations_csv, len(persons), len(aliases), len(relations), actor)
    # who is who decides which sightings are one movement: derived again where the
    # roster resolves accounts otherwise than before (after the roster is committed:
    # a derivation stopped half-way is marked and done again by the next command)
    derive_after_roster(con)
    ambiguous = [
        f"{alias} ({pids})"
        for alias, pids in con.execute(
            """SELECT min(alias), string_agg(DISTINCT person_id, ', ' ORDER BY person_id) FROM person_accounts
               GROUP BY norm HAVING count(DISTINCT person_id) > 1 ORDER BY 1"""
        ).fetchall()
    ]
    resolved = con.execute("SELECT count(*) FROM accounts WHERE person_id IS NOT NULL").fetchall()[0][0]
    return RosterResult(len(persons), len(aliases), len(relations), resolved, ambiguous)


def _audit_roster(con, people_csv: Path, relations_csv: Path | None, persons: int, aliases: int, relations: int, actor) -> None:
    """The audit log entry of a roster load: the files with their hashes, and counts."""
    from analyzer.audit import append
    from analyzer.files import file_digest

    files = []
    for role, path in (("people", people_csv), ("relations", relations_csv)):
        if path is not None:
            sha, size = file_digest(path)
            files.append({"role": role, "path": str(Path(path).resolve()), "sha256": sha, "size": size})
    append(con, "roster", {"files": files, "persons": persons, "aliases": aliases, "relations": relations}, actor)


def list_people(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Persons with their aliases, the accounts seen in the data that resolve to them,
    and how many movements each takes part in."""
    rows = con.execute(
        """
        WITH counts AS (
            SELECT person_id, count(*) AS n FROM (
                SELECT id, payer_person AS person_id FROM movement_rows WHERE payer_person IS NOT NULL
                UNION SELECT id, payee_person FROM movement_rows WHERE payee_person IS NOT NULL
            ) GROUP BY person_id
        )
        SELECT p.person_id, p.name, p.party_member, p.official, p.org_unit, p.position, p.rank,
               (SELECT string_agg(alias, '; ' ORDER BY alias) FROM person_accounts a WHERE a.person_id = p.person_id) AS aliases,
               (SELECT count(*) FROM accounts a WHERE a.person_id = p.person_id) AS accounts_seen,
               coalesce(c.n, 0) AS transactions
        FROM persons p LEFT JOIN counts c USING (person_id)
        ORDER BY p.person_id
        """
    ).fetchall()
    keys = ("person_id", "name", "party_member", "official", "org_unit", "position", "rank", "aliases", "accounts_seen", "transactions")
    return [dict(zip(keys, r)) for r in rows]
