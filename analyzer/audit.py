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
    the entry before, seq without gaps or repeats, and the last entry against the head in meta."""
    rows = con.execute(
        "SELECT seq, logged_at, actor, action, details, prev_hash, hash FROM audit_log ORDER BY seq"
    ).fetchall()
    check = LogCheck(entries=len(rows))
    expected, prev = 1, GENESIS
    for seq, at, actor, action, details, prev_hash, digest in rows:
        if seq < expected:  # (the table has no key: rpa gives seq itself)
            check.problems.append((seq, f"entry {seq} is there more than once (added after it was written)"))
            continue
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
    from analyzer.files import file_digest

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


# --------------------------------------------------------------------------- evidence digests
#
# The log records, when evidence is written, an order-independent digest of it: per
# source (its ingest entry) over the rows it gave, and per scan (its entry) over the
# findings as the scan left them with their evidence. `rpa verify` recomputes them from
# the case and compares. Each row's hash is also kept in the table `fingerprints`, so
# that verify can name the rows that changed; the digest in the chained log protects
# that table too (a changed fingerprint no longer adds up to the logged digest).

# What a source's digest covers: per table, the rows with the source's `source_id`,
# what a row is called, and the columns hashed: what was read from the file, which never
# changes (the sightings, append-only, and the rejected lines). The movements are derived
# from the sightings and the roster; verify checks them by deriving them again
# (verify_movements).
SIGHTING_COLUMNS = (
    "sighting_id", "source_id", "line", "txn_id", "match_id", "packet_id", "ts", "payer", "payee", "payer_name",
    "payee_name", "amount", "direction", "kind", "status", "channel", "memo", "raw_type", "raw_status", "refund_ref", "raw",
)
SOURCE_DIGEST_TABLES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # table: (row kind, the row's number within its source (BIGINT), columns hashed)
    "sightings": ("sighting", "sighting_id", SIGHTING_COLUMNS),
    "rejects": ("reject", "line", ("source_id", "line", "raw", "reason")),
}
# how verify names a row of each kind
ROW_NAMES = {"sighting": "sighting {}", "movement": "movement {}", "reject": "reject at line {}",
             "finding": "finding {}"}
# A finding's hash covers all its columns (a scan writes them all), its evidence ids
# among them; the evidence movements are checked by verify_movements.
FINDING_DIGEST_COLUMNS: tuple[str, ...] = (
    "id", "rule", "severity", "score", "subject", "counterparties", "window_name", "start_ts", "end_ts", "total_amount",
    "txn_count", "reason_zh", "reason_en", "metrics", "params", "scan_id", "evidence", "first_scan_id", "stale",
    "stale_scan_id", "suppressed_by",
)
FINDINGS_OWNER = 0  # fingerprints.owner of the findings


def _row_json(columns: tuple[str, ...], alias: str = "") -> str:
    """SQL: a row's columns as JSON text (NULL and '' stay apart, and so do columns)."""
    from analyzer.params import identifier

    pack = ", ".join(f"{identifier(c)} := {alias}{identifier(c)}" for c in columns)
    return f"CAST(to_json(struct_pack({pack})) AS VARCHAR)"


def _row_hash(columns: tuple[str, ...], alias: str = "") -> str:
    """SQL: the hash of a row's columns. MD5 per row (a row cannot be changed to one of
    the same MD5: no second preimages are known), SHA-256 over the sorted row hashes;
    at 1M movements on a busy machine SHA-256 per row took 2.9 s, MD5 1.8 s."""
    return f"md5({_row_json(columns, alias)})"


def source_rows_sql(where: str = "true") -> str:
    """SQL: (owner, row_kind, item, name, hash) of every row the sources gave, per
    SOURCE_DIGEST_TABLES (rows are numbered, not named: cheaper to store and sort)."""
    parts = []
    for table, (kind, key, columns) in SOURCE_DIGEST_TABLES.items():
        parts.append(f"SELECT source_id AS owner, '{kind}' AS row_kind, CAST({key} AS BIGINT) AS item, "
                     f"CAST(NULL AS VARCHAR) AS name, {_row_hash(columns)} AS hash FROM {table} WHERE {where}")
    return " UNION ALL ".join(parts)


def findings_rows_sql() -> str:
    """SQL: (owner, item, hash) of every finding."""
    own = _row_json(FINDING_DIGEST_COLUMNS, "f.")
    return f"""
        SELECT {FINDINGS_OWNER} AS owner, 'finding' AS row_kind, CAST(NULL AS BIGINT) AS item, f.id AS name,
               md5({own}) AS hash
        FROM findings f"""


# Order-independent: the row hashes in the order of the rows' kinds and numbers (each
# row's hash covers its number), then SHA-256.
_DIGEST = "sha256(coalesce(string_agg(hash, '' ORDER BY row_kind, item, name, hash), ''))"


EMPTY_DIGEST = hashlib.sha256(b"").hexdigest()  # of a source that gave no rows (a header-only file)


def _counts(prefixes: tuple[str, ...]) -> str:
    return ", ".join(f"count(*) FILTER (WHERE row_kind = '{p}')" for p in prefixes)


def _record(con: duckdb.DuckDBPyConnection, kind: str, owner: int, rows_sql: str, prefixes: tuple[str, ...],
            params: dict | None = None) -> dict:
    con.execute("DELETE FROM fingerprints WHERE kind = $k AND owner = $o", {"k": kind, "o": owner})
    con.execute(f"INSERT INTO fingerprints SELECT $k, owner, row_kind, item, name, hash FROM ({rows_sql})",
                {"k": kind, **(params or {})})
    digest, *counts = con.execute(
        f"SELECT {_DIGEST}, {_counts(prefixes)} FROM fingerprints WHERE kind = $k AND owner = $o", {"k": kind, "o": owner}
    ).fetchall()[0]
    return {"sha256": digest, **{f"{p}s": n for p, n in zip(prefixes, counts)}}


SOURCE_KINDS = tuple(kind for kind, _, _ in SOURCE_DIGEST_TABLES.values())


def record_source_digest(con: duckdb.DuckDBPyConnection, source_id: int) -> dict:
    """Fingerprint the rows a source gave and return their digest and counts, for its
    ingest entry (call it in the ingest's transaction, after the file's rows are final)."""
    return _record(con, "source", source_id, source_rows_sql("source_id = $s"), SOURCE_KINDS, {"s": source_id})


def record_source_digests(con: duckdb.DuckDBPyConnection, first: int, last: int) -> dict[int, dict]:
    """record_source_digest for the sources first..last at once (a batch of files)."""
    from analyzer.db import unordered

    con.execute("DELETE FROM fingerprints WHERE kind = 'source' AND owner BETWEEN $a AND $b", {"a": first, "b": last})
    with unordered(con):  # the digest sorts the rows: hashed on every thread
        con.execute(f"INSERT INTO fingerprints SELECT 'source', owner, row_kind, item, name, hash FROM ({source_rows_sql('source_id BETWEEN $a AND $b')})",
                    {"a": first, "b": last})
    out = {}
    for owner, digest, *counts in con.execute(
        f"SELECT owner, {_DIGEST}, {_counts(SOURCE_KINDS)} FROM fingerprints WHERE kind = 'source' AND owner BETWEEN $a AND $b GROUP BY owner",
        {"a": first, "b": last},
    ).fetchall():
        out[owner] = {"sha256": digest, **{f"{p}s": n for p, n in zip(SOURCE_KINDS, counts)}}
    for owner in range(first, last + 1):
        out.setdefault(owner, {"sha256": EMPTY_DIGEST, **{f"{p}s": 0 for p in SOURCE_KINDS}})
    return out


def record_findings_digest(con: duckdb.DuckDBPyConnection) -> dict:
    """Fingerprint the findings as a scan leaves them, with their evidence; returns the
    digest and count for the scan's entry (call it in the scan's transaction)."""
    return _record(con, "findings", FINDINGS_OWNER, findings_rows_sql(), ("finding",))


@dataclass
class DataCheck:
    """The evidence of one source, or the findings, against the digest the log holds:
    intact | changed | not recorded (written by an rpa that kept no digest)."""

    what: str  # "source 3" | "findings"
    state: str
    detail: str = ""
    changes: list[str] = field(default_factory=list)  # "movement 17 edited", ...


def _named_changes(con, kind: str, owner: int, now_table: str) -> list[str]:
    """Rows that differ between the case now and the fingerprints: edited, deleted, inserted."""
    rows = con.execute(
        f"""WITH now AS (SELECT row_kind, coalesce(name, CAST(item AS VARCHAR)) AS item, hash FROM {now_table} WHERE owner = $o),
                 kept AS (SELECT row_kind, coalesce(name, CAST(item AS VARCHAR)) AS item, hash FROM fingerprints
                          WHERE kind = $k AND owner = $o),
                 gone AS (SELECT row_kind, item FROM (SELECT * FROM kept EXCEPT ALL SELECT * FROM now)),
                 added AS (SELECT row_kind, item FROM (SELECT * FROM now EXCEPT ALL SELECT * FROM kept))
            SELECT row_kind, item, CASE WHEN (row_kind, item) IN (SELECT (row_kind, item) FROM added) THEN 'edited' ELSE 'deleted' END
            FROM gone
            UNION ALL
            SELECT row_kind, item, 'inserted' FROM added WHERE (row_kind, item) NOT IN (SELECT (row_kind, item) FROM gone)
            ORDER BY 3, 1, 2""",
        {"k": kind, "o": owner},
    ).fetchall()
    return [f"{ROW_NAMES.get(row_kind, row_kind + ' {}').format(item)} {how}" for row_kind, item, how in dict.fromkeys(rows)]


def _logged_digests(con, action: str) -> dict:
    out = {}
    for seq, details in con.execute("SELECT seq, details FROM audit_log WHERE action = ? ORDER BY seq", [action]).fetchall():
        try:
            d = json.loads(details)
            if isinstance(d.get("digest"), dict):
                out[d["source_id"] if action == "ingest" else FINDINGS_OWNER] = (seq, d["digest"], d)
        except (ValueError, KeyError, TypeError, AttributeError):
            continue  # a broken entry: verify_log reports it
    return out


def _compare(con, kind: str, owner: int, what: str, logged, now_digest: str | None, now_table: str,
             describe) -> DataCheck:
    seq, digest, _ = logged
    if now_digest == digest["sha256"]:
        return DataCheck(what, "intact", describe(digest))
    changes = _named_changes(con, kind, owner, now_table)
    kept = con.execute(f"SELECT {_DIGEST} FROM fingerprints WHERE kind = $k AND owner = $o", {"k": kind, "o": owner}).fetchall()[0][0]
    detail = f"differs from the digest of log entry {seq}"
    if kept != digest["sha256"]:
        detail += "; its fingerprints were changed too, so the rows named may not be all"
    if not changes:
        changes = ["rows changed that cannot be named"]
    return DataCheck(what, "changed", detail, changes)


# The copy of the case verify derives the movements in (removed when it ends).
VERIFY_COPY = "rpa.verify.duckdb"

# Rows digested per statement by verify: an ordered string_agg holds its group's
# hashes in memory (no spilling), and all 13.6M of a 10M-movement case ran out of
# memory under 512 MB.
DIGEST_CHUNK_ROWS = 1_000_000


def _owner_ranges(con, table: str) -> list[tuple[int, int]]:
    """Ranges of owners (first, last) of `table` of about DIGEST_CHUNK_ROWS rows each."""
    ranges, first, rows = [], None, 0
    for owner, n in con.execute(f"SELECT owner, count(*) FROM {table} GROUP BY owner ORDER BY owner").fetchall():
        if first is None:
            first = owner
        rows += n
        if rows >= DIGEST_CHUNK_ROWS:
            ranges.append((first, owner))
            first, rows = None, 0
    if first is not None:
        ranges.append((first, owner))
    return ranges


def verify_data(con: duckdb.DuckDBPyConnection) -> list[DataCheck]:
    """Recompute the digests of every source's rows and of the findings and compare them
    with the ones logged when they were written; name the rows edited, deleted or
    inserted since."""
    checks: list[DataCheck] = []
    con.execute(f"CREATE OR REPLACE TEMP TABLE verify_source_rows AS {source_rows_sql()}")
    now = {}
    for first, last in _owner_ranges(con, "verify_source_rows"):
        now.update(con.execute(f"SELECT owner, {_DIGEST} FROM verify_source_rows WHERE owner BETWEEN $a AND $b GROUP BY owner",
                               {"a": first, "b": last}).fetchall())
    logged = _logged_digests(con, "ingest")
    sources = [r[0] for r in con.execute("SELECT source_id FROM sources ORDER BY source_id").fetchall()]

    def describe(d: dict) -> str:
        return ", ".join(f"{d.get(k + 's', 0):,} {k}{'' if d.get(k + 's', 0) == 1 else 's'}" for k in SOURCE_KINDS)

    for sid in sorted(set(sources) | set(now) | set(logged)):
        what = f"source {sid}"
        if sid in logged:
            checks.append(_compare(con, "source", sid, what, logged[sid], now.get(sid, EMPTY_DIGEST), "verify_source_rows", describe))
        elif sid in sources:
            checks.append(DataCheck(what, "not recorded", "ingested by an rpa that logged no digest"))
        else:  # rows that name a source never ingested
            items = con.execute(
                "SELECT row_kind, item FROM verify_source_rows WHERE owner = ? ORDER BY row_kind, item LIMIT 20", [sid]).fetchall()
            checks.append(DataCheck(what, "changed", "rows of a source that was never ingested",
                                    [f"{ROW_NAMES[k].format(i)} inserted" for k, i in items]))
    con.execute(f"CREATE OR REPLACE TEMP TABLE verify_finding_rows AS {findings_rows_sql()}")
    scans = _logged_digests(con, "scan")
    has_findings = con.execute("SELECT count(*) FROM verify_finding_rows").fetchall()[0][0]
    if FINDINGS_OWNER in scans:
        seq, digest, d = scans[FINDINGS_OWNER]
        now_digest = con.execute(f"SELECT {_DIGEST} FROM verify_finding_rows").fetchall()[0][0]
        check = _compare(con, "findings", FINDINGS_OWNER, "findings", scans[FINDINGS_OWNER], now_digest,
                         "verify_finding_rows", lambda g: f"{g.get('findings', 0):,} as scan {d.get('scan_id')} left them")
        checks.append(check)
    elif has_findings:
        checks.append(DataCheck("findings", "not recorded", "scanned by an rpa that logged no digest"))
    con.execute("DROP TABLE IF EXISTS verify_source_rows")
    con.execute("DROP TABLE IF EXISTS verify_finding_rows")
    return checks


def verify_movements(con: duckdb.DuckDBPyConnection, folder: Path) -> DataCheck:
    """The movements (and which sighting is of which) against the ones the sightings and
    the roster give: derived again in a copy of the case (`folder`'s database, removed
    after), and compared row by row. A copy, not a transaction rolled back: inside a
    transaction DuckDB keeps every temporary table the derivation replaces, and a 10M
    case ran out of memory under 512 MB. The case itself is not written."""
    import shutil

    from analyzer.case import copy_case
    from analyzer.db import connect
    from analyzer.ingest.consolidate import consolidate, is_stale

    if is_stale(con):
        return DataCheck("movements", "not derived", "files were loaded after the movements were last derived: run `rpa scan`")
    columns = tuple(r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'movement_rows' ORDER BY ordinal_position").fetchall())
    hashed = f"SELECT id, {_row_hash(columns)} AS hash FROM movement_rows"
    copy = folder / VERIFY_COPY
    copy_case(con, folder, copy, "to derive its movements again")
    try:
        vcon = connect(copy)
        try:
            vcon.execute(f"CREATE TEMP TABLE verify_stored AS {hashed}")
            vcon.execute("CREATE TEMP TABLE verify_stored_links AS SELECT sighting_id, movement_id FROM sighting_movements")
            consolidate(vcon)
            rows = vcon.execute(
                f"""WITH derived AS ({hashed}),
                         stored AS (SELECT * FROM verify_stored)
                    SELECT coalesce(s.id, d.id) AS id,
                           CASE WHEN d.id IS NULL THEN 'inserted' WHEN s.id IS NULL THEN 'deleted' ELSE 'edited' END
                    FROM stored s FULL JOIN derived d ON d.id = s.id
                    WHERE s.hash IS DISTINCT FROM d.hash ORDER BY 1"""
            ).fetchall()
            links = vcon.execute(
                """SELECT count(*) FROM (SELECT * FROM verify_stored_links EXCEPT ALL SELECT sighting_id, movement_id FROM sighting_movements
                                         UNION ALL
                                         SELECT sighting_id, movement_id FROM sighting_movements EXCEPT ALL SELECT * FROM verify_stored_links)"""
            ).fetchall()[0][0]
            count = vcon.execute("SELECT count(*) FROM movement_rows").fetchall()[0][0]
        finally:
            vcon.close()
    finally:
        for leftover in (copy, copy.with_name(copy.name + ".wal")):
            leftover.unlink(missing_ok=True)
        shutil.rmtree(copy.with_name(copy.name + ".tmp"), ignore_errors=True)
    changes = [f"movement {i} {how}" for i, how in rows[:50]]
    if len(rows) > 50:
        changes.append(f"… and {len(rows) - 50} more movements")
    if links:
        changes.append(f"{links} sighting(s) assigned to another movement than the sightings give")
    if changes:
        return DataCheck("movements", "changed", "differ from the movements the sightings and the roster give", changes)
    return DataCheck("movements", "intact", f"{count:,} movements, as the sightings and the roster give them")


# --------------------------------------------------------------------------- reports


@dataclass
class ReportCheck:
    """One recorded report against its files: intact | changed | not on disk | replaced
    (a later report was written into the same folder)."""

    report_id: int
    path: str
    state: str
    detail: str = ""


def verify_reports(con: duckdb.DuckDBPyConnection) -> list[ReportCheck]:
    """Re-hash every report the case recorded that is still where it was written: its
    manifest.json against the recorded SHA-256, and every file the manifest lists against
    its own. A report moved or deleted since is only noted: reports are made to be
    handed on."""
    checks = []
    rows = con.execute("SELECT report_id, path, sha256 FROM reports ORDER BY report_id").fetchall()
    latest = {path: report_id for report_id, path, _ in rows}
    for report_id, path, sha in rows:
        if latest[path] != report_id:
            checks.append(ReportCheck(report_id, path, "replaced", f"by report {latest[path]}"))
            continue
        folder = Path(path)
        manifest = folder / "manifest.json"
        if not manifest.is_file():
            checks.append(ReportCheck(report_id, path, "not on disk"))
            continue
        data = manifest.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha:
            checks.append(ReportCheck(report_id, path, "changed", "manifest.json differs from the one recorded"))
            continue
        listed = {f["path"]: f["sha256"] for f in json.loads(data)["files"]}
        changed = [rel for rel, digest in listed.items()
                   if not (folder / rel).is_file() or hashlib.sha256((folder / rel).read_bytes()).hexdigest() != digest]
        present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
        added = sorted(present - set(listed) - {"manifest.json"})
        if changed or added:
            detail = "; ".join(filter(None, [
                f"{len(changed)} file(s) changed or gone: {', '.join(changed[:3])}" if changed else "",
                f"{len(added)} file(s) added: {', '.join(added[:3])}" if added else ""]))
            checks.append(ReportCheck(report_id, path, "changed", detail))
        else:
            checks.append(ReportCheck(report_id, path, "intact", f"{len(listed)} files"))
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
