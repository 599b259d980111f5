"""The audit log (`rpa log`) and the integrity check (`rpa verify`).

Every command that changes a case appends one entry to `audit_log`, inside the same
DuckDB transaction as the change itself, so the log and the case cannot disagree: an
ingest (per file, with its SHA-256 and counts), a roster load (file hashes, counts), a
scan (rules with their file hashes and parameter values, scope, what it found), a
triage decision, a suppression. `rpa verify` also checks the `sources`, `triage` and
`suppressions` rows, which the commands read, against the entries written with them.

Each entry is chained to the one before it:

    hash = sha256(prev_hash + canonical JSON of {"seq", "at", "actor", "action", "details"})

where canonical JSON is sorted keys, no spaces, UTF-8 text (not \\u-escaped), and the
first entry's prev_hash is 64 zeros. rpa never updates or deletes a log row. Editing
an entry breaks its hash; deleting one leaves a gap in `seq` and breaks the next
entry's prev_hash; deleting the last ones is caught by the head (last seq and hash)
kept in `meta`. Someone with write access who rewrites the whole chain and the head
is not caught by the case alone: note the head hash `rpa verify` prints somewhere
else (the case file, a report) and compare later.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

GENESIS = "0" * 64
HEAD_KEY = "audit_head"  # meta key: "<seq> <hash>" of the last entry rpa wrote


def default_actor() -> str:
    """The OS user running rpa, or "unknown" when the system cannot say."""
    try:
        return getpass.getuser() or "unknown"
    except Exception:  # no login name (containers, some services): still log the action
        return "unknown"


def actor_name(actor: str | None) -> str:
    """`--by` as given (trimmed), else the OS user."""
    return (actor or "").strip() or default_actor()


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def canonical(obj: object) -> str:
    """Canonical JSON: sorted keys, no spaces, UTF-8 text."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=_json_default)


def entry_hash(prev_hash: str, seq: int, at: str, actor: str, action: str, details: object) -> str:
    """The hash of a log entry (see the module docstring)."""
    body = canonical({"seq": seq, "at": at, "actor": actor, "action": action, "details": details})
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def append(con: duckdb.DuckDBPyConnection, action: str, details: dict, actor: str | None = None) -> int:
    """Append one entry to the log; returns its seq.

    Call it inside the transaction of the change it records, so that both are kept or
    neither. (DuckDB lets one writer hold a case at a time, so max(seq) + 1 is safe.)"""
    # Details go through canonical JSON once, so that what is hashed is what is stored.
    details = json.loads(canonical(details))
    actor = actor_name(actor)
    at = datetime.now().astimezone().isoformat(timespec="seconds")
    last_seq, last_hash = con.execute("SELECT coalesce(max(seq), 0), arg_max(hash, seq) FROM audit_log").fetchall()[0]
    head = con.execute("SELECT value FROM meta WHERE key = ?", [HEAD_KEY]).fetchall()
    # Chain from the entry rpa last wrote, not from whatever the table now ends with:
    # entries deleted from the end then stay a visible gap instead of being papered over.
    head_seq, prev = (int(head[0][0].split(" ", 1)[0]), head[0][0].split(" ", 1)[1]) if head else (last_seq, last_hash or GENESIS)
    seq = max(head_seq, last_seq) + 1
    digest = entry_hash(prev, seq, at, actor, action, details)
    con.execute(
        "INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?)", [seq, at, actor, action, canonical(details), prev, digest]
    )
    con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [HEAD_KEY, f"{seq} {digest}"])
    return seq


def log_entries(con: duckdb.DuckDBPyConnection, since: date | None = None) -> list[dict]:
    """Log entries in order, optionally from a day on (the entry's local date)."""
    rows = con.execute(
        """SELECT seq, logged_at, actor, action, details, prev_hash, hash FROM audit_log
           WHERE $since IS NULL OR CAST(substr(logged_at, 1, 10) AS DATE) >= $since ORDER BY seq""",
        {"since": since},
    ).fetchall()
    out = []
    for seq, at, actor, action, details, prev, digest in rows:
        try:
            parsed = json.loads(details)
        except ValueError:
            parsed = details  # an edited entry: shown as stored; `rpa verify` names it
        out.append({"seq": seq, "at": at, "actor": actor, "action": action, "details": parsed, "prev_hash": prev, "hash": digest})
    return out


def summary(entry: dict) -> str:
    """One line saying what a log entry records."""
    d = entry["details"]
    if not isinstance(d, dict):
        return str(d)[:120]
    action = entry["action"]
    if action == "ingest":
        return (f"source {d.get('source_id')}: {d.get('name')} ({d.get('format')}, sha256 {str(d.get('sha256'))[:12]}…): "
                f"{d.get('loaded')} loaded, {d.get('duplicates')} duplicates, {d.get('rejected')} rejected")
    if action == "roster":
        files = ", ".join(f"{Path(f['path']).name} (sha256 {f['sha256'][:12]}…)" for f in d.get("files", []))
        return f"{files}: {d.get('persons')} persons, {d.get('aliases')} aliases, {d.get('relations')} relations"
    if action == "scan":
        rules = d.get("rules", [])
        names = ", ".join(r["id"] for r in rules[:3]) + (f" and {len(rules) - 3} more" if len(rules) > 3 else "")
        return (f"scan {d.get('scan_id')} ({d.get('scope')}) of {names}: {d.get('findings')} findings, "
                f"{d.get('new')} new, {d.get('stale')} went stale, {d.get('suppressed')} suppressed")
    if action == "triage":
        note = f": {d['note']}" if d.get("note") else ""
        return f"{d.get('finding_id')} ({d.get('rule')}, {d.get('subject')}) {d.get('previous')} → {d.get('status')}{note}"
    if action == "suppress":
        cp = f" with {d['counterparty']}" if d.get("counterparty") else ""
        return f"suppression {d.get('suppression_id')}: {d.get('rule')} for {d.get('subject')}{cp} until {d.get('until')}: {d.get('why')}"
    return canonical(d)[:120]


@dataclass
class LogCheck:
    """The hash chain re-checked: how many entries, and what is wrong (seq, message)."""

    entries: int
    problems: list[tuple[int, str]] = field(default_factory=list)
    head_seq: int = 0
    head_hash: str = GENESIS

    @property
    def intact(self) -> bool:
        return not self.problems


def verify_log(con: duckdb.DuckDBPyConnection) -> LogCheck:
    """Recompute the chain: every entry's hash from its content, every prev_hash against
    the entry before, seq without gaps, and the last entry against the head in meta."""
    rows = con.execute(
        "SELECT seq, logged_at, actor, action, details, prev_hash, hash FROM audit_log ORDER BY seq"
    ).fetchall()
    check = LogCheck(entries=len(rows))
    expected, prev = 1, GENESIS
    for seq, at, actor, action, details, prev_hash, digest in rows:
        gap = seq != expected
        if gap:
            missing = f"entry {expected} is" if seq == expected + 1 else f"entries {expected}–{seq - 1} are"
            check.problems.append((expected, f"{missing} missing (deleted)"))
        if prev_hash != prev and not gap:
            check.problems.append((seq, f"entry {seq} does not follow entry {seq - 1} (its prev_hash is not that entry's hash)"))
        try:
            ok = entry_hash(prev_hash, seq, at, actor, action, json.loads(details)) == digest
        except (ValueError, TypeError):
            ok = False
        if not ok:
            check.problems.append((seq, f"entry {seq} was changed after it was written (its hash does not match its content)"))
        expected, prev = seq + 1, digest
    if rows:
        check.head_seq, check.head_hash = rows[-1][0], rows[-1][6]
    head = con.execute("SELECT value FROM meta WHERE key = ?", [HEAD_KEY]).fetchall()
    if head:
        head_seq, head_hash = head[0][0].split(" ", 1)
        head_seq = int(head_seq)
        if head_seq > check.head_seq:
            what = f"entry {head_seq} is" if head_seq == check.head_seq + 1 else f"entries {check.head_seq + 1}–{head_seq} are"
            check.problems.append((check.head_seq + 1, f"{what} missing (deleted from the end of the log)"))
        elif head_seq < check.head_seq:
            check.problems.append((head_seq + 1, f"entries after {head_seq} were not written by rpa"))
        elif head_hash != check.head_hash:
            check.problems.append((head_seq, f"entry {head_seq} is not the last entry rpa wrote (hash differs)"))
    elif rows:
        check.problems.append((1, "the log has entries but no head record: not written by rpa"))
    check.problems.sort()
    return check


def verify_records(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Check the triage decisions and suppressions the case acts on against the log
    entries written with them: each row must match its entry, and each entry have its
    row. (The commands read the tables; the chain protects the log.) Returns problems."""
    problems = []
    checks = (
        ("triage", "triage decision", "triage_id",
         "SELECT triage_id, finding_id, status, note, actor FROM triage",
         lambda d, actor: (d.get("finding_id"), d.get("status"), d.get("note"), actor)),
        ("suppress", "suppression", "suppression_id",
         "SELECT suppression_id, rule, subject, counterparty, CAST(until AS VARCHAR), why, actor FROM suppressions",
         lambda d, actor: (d.get("rule"), d.get("subject"), d.get("counterparty"), d.get("until"), d.get("why"), actor)),
    )
    for action, what, key, sql, expected in checks:
        logged = {}
        for seq, actor, details in con.execute("SELECT seq, actor, details FROM audit_log WHERE action = ? ORDER BY seq", [action]).fetchall():
            try:
                d = json.loads(details)
                logged[d[key]] = (seq, expected(d, actor))
            except (ValueError, KeyError, TypeError):
                continue  # a broken entry: verify_log reports it
        for row in con.execute(sql).fetchall():
            entry = logged.pop(row[0], None)
            if entry is None:
                problems.append(f"{what} {row[0]} has no log entry: not recorded by rpa")
            elif tuple(row[1:]) != entry[1]:
                problems.append(f"{what} {row[0]} differs from log entry {entry[0]}: changed after it was recorded")
        for ident, (seq, _) in sorted(logged.items()):
            problems.append(f"{what} {ident} of log entry {seq} is gone from the case (deleted)")
    return problems


@dataclass
class SourceCheck:
    """One ingested file against its record: intact | changed | missing | unreadable."""

    source_id: int
    path: str
    state: str
    detail: str = ""


def _on_disk(stored: str) -> Path | None:
    """The file a `sources.path` names, if it is still there.

    The stored path is readable text: folder names that were GBK bytes (Tenpay
    productions unpacked on Chinese Windows) are stored decoded, so each component is
    also tried as its GBK bytes."""
    p = Path(stored)
    if p.is_file():
        return p
    if not p.parts:
        return None
    current = Path(p.parts[0])
    for part in p.parts[1:]:
        candidates = [part]
        try:
            candidates.append(os.fsdecode(part.encode("gbk")))
        except UnicodeEncodeError:
            pass
        for name in candidates:
            if (current / name).exists():
                current = current / name
                break
        else:
            return None
    return current if current.is_file() else None


def verify_sources(con: duckdb.DuckDBPyConnection) -> list[SourceCheck]:
    """Re-hash every ingested file still on disk against `sources`, and check that
    each source row still says what the log recorded when the file was ingested."""
    from analyzer.ingest import file_digest  # late: ingest imports this module

    logged = {}
    for seq, details in con.execute("SELECT seq, details FROM audit_log WHERE action = 'ingest' ORDER BY seq").fetchall():
        try:
            d = json.loads(details)
            logged[d["source_id"]] = (seq, d.get("sha256"))
        except (ValueError, KeyError, TypeError):
            continue  # a broken entry: verify_log reports it
    checks = []
    for source_id, path, sha, size in con.execute("SELECT source_id, path, sha256, size FROM sources ORDER BY source_id").fetchall():
        if source_id in logged and logged[source_id][1] != sha:
            checks.append(SourceCheck(source_id, path, "changed", f"the sources table's sha256 differs from log entry {logged[source_id][0]}"))
            continue
        found = _on_disk(path)
        if found is None:
            checks.append(SourceCheck(source_id, path, "missing", "no file at this path"))
            continue
        try:
            now, now_size = file_digest(found)
        except OSError as exc:
            checks.append(SourceCheck(source_id, path, "unreadable", exc.strerror or type(exc).__name__))
            continue
        if now == sha:
            checks.append(SourceCheck(source_id, path, "intact"))
        else:
            checks.append(SourceCheck(source_id, path, "changed", f"sha256 now {now[:12]}…, {now_size} bytes; ingested {sha[:12]}…, {size} bytes"))
    return checks


def append_many(con: duckdb.DuckDBPyConnection, action: str, entries: list[dict], actor: str | None = None) -> None:
    """Append several entries of one action, chained exactly as `append` would chain
    them one by one, in one insert (a batch of a thousand files logs a thousand
    entries). Call it inside the transaction of the change they record."""
    if not entries:
        return
    actor = actor_name(actor)
    at = datetime.now().astimezone().isoformat(timespec="seconds")
    last_seq, last_hash = con.execute("SELECT coalesce(max(seq), 0), arg_max(hash, seq) FROM audit_log").fetchall()[0]
    head = con.execute("SELECT value FROM meta WHERE key = ?", [HEAD_KEY]).fetchall()
    head_seq, prev = (int(head[0][0].split(" ", 1)[0]), head[0][0].split(" ", 1)[1]) if head else (last_seq, last_hash or GENESIS)
    seq = max(head_seq, last_seq)
    rows = []
    for details in entries:
        details = json.loads(canonical(details))
        seq += 1
        digest = entry_hash(prev, seq, at, actor, action, details)
        rows.append((seq, at, actor, action, canonical(details), prev, digest))
        prev = digest
    con.executemany("INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [HEAD_KEY, f"{seq} {prev}"])
