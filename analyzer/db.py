"""The case database: schema, versioned migrations, and opening a connection.

Every table is created by the tool. `meta.schema_version` records which migrations a
case has had, so that later releases can bring an old case up to date on open.
"""

from __future__ import annotations

import getpass
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from analyzer import __version__
from analyzer.errors import CaseBusyError, CaseKeyError, RpaError
from analyzer.params import CaseConnection, literal

# Each entry upgrades the schema by one version. Never edit a released migration:
# append a new one. The list index + 1 is the version the migration produces.
MIGRATIONS: list[str] = [
    # 1: the foundation
    """
    CREATE TABLE meta (
        key VARCHAR PRIMARY KEY,
        value VARCHAR
    );
    CREATE TABLE sources (
        source_id INTEGER PRIMARY KEY,
        path VARCHAR NOT NULL,          -- as given on the command line, made absolute
        name VARCHAR NOT NULL,          -- file name, readable (GBK folder names decoded)
        sha256 VARCHAR NOT NULL,
        size BIGINT NOT NULL,
        format VARCHAR NOT NULL,        -- detected (or --format) layout id
        encoding VARCHAR,
        owner VARCHAR,                  -- account holder as the file names it
        owner_name VARCHAR,             -- real name when the file gives one
        period_start VARCHAR,           -- export period stated in the file
        period_end VARCHAR,
        rows_read BIGINT NOT NULL,
        rows_loaded BIGINT NOT NULL,
        rows_duplicate BIGINT NOT NULL,
        rows_rejected BIGINT NOT NULL,
        first_ts TIMESTAMP,
        last_ts TIMESTAMP,
        ingested_at TIMESTAMP NOT NULL,
        rpa_version VARCHAR NOT NULL
    );
    -- Columns that a valid movement always has (ts, amount, kind, status, channel,
    -- seen_by_*) carry no NOT NULL: a file is bulk-inserted, then its invalid rows are
    -- moved to `rejects` inside the same transaction (ingest.stage.reject_invalid).
    CREATE TABLE transactions (
        id BIGINT NOT NULL,             -- rpa's own row id (unique; no index: it slows bulk loads)
        txn_id VARCHAR,                 -- the export's own id (交易单号 ...)
        match_id VARCHAR,               -- id the other party's export also carries
        packet_id VARCHAR,              -- ties the rows of one group red packet
        ts TIMESTAMP,          -- China local time as exported
        payer VARCHAR,
        payee VARCHAR,
        payer_name VARCHAR,
        payee_name VARCHAR,
        amount DECIMAL(18,2),  -- yuan, unsigned
        kind VARCHAR,
        status VARCHAR,
        channel VARCHAR,
        memo VARCHAR,
        raw_type VARCHAR,
        raw_status VARCHAR,
        refund_ref VARCHAR,             -- id of the original, as the refund row names it
        refund_of BIGINT,               -- transactions.id of the original, when linked
        seen_by_payer BOOLEAN, -- the payer's own export shows this movement
        seen_by_payee BOOLEAN, -- the payee's own export shows this movement
        source_id INTEGER NOT NULL,     -- where it was first read
        line BIGINT NOT NULL,
        raw VARCHAR,                    -- original cells as JSON
        payer_person VARCHAR,           -- the payer as a roster person (kept up to date by
        payee_person VARCHAR            -- ingest and roster loads), NULL when unresolved
    );
    CREATE TABLE duplicates (
        source_id INTEGER NOT NULL,     -- the file whose row was a duplicate
        line BIGINT NOT NULL,
        transaction_id BIGINT NOT NULL, -- the stored movement it matched
        matched_on VARCHAR NOT NULL,    -- 'same row', 'shared id', 'parties+amount+time'
        raw VARCHAR
    );
    CREATE TABLE rejects (
        source_id INTEGER NOT NULL,
        line BIGINT NOT NULL,
        raw VARCHAR,
        reason VARCHAR NOT NULL
    );
    CREATE TABLE persons (
        person_id VARCHAR PRIMARY KEY,
        name VARCHAR,
        party_member BOOLEAN NOT NULL,
        official BOOLEAN NOT NULL,
        org_unit VARCHAR,
        position VARCHAR,
        rank INTEGER,
        extra VARCHAR                   -- extra roster columns as JSON
    );
    CREATE TABLE person_accounts (
        person_id VARCHAR NOT NULL,
        alias VARCHAR NOT NULL,         -- as written in the roster
        norm VARCHAR NOT NULL           -- normalised form used to match
    );
    CREATE TABLE accounts (
        account VARCHAR PRIMARY KEY,    -- an account or name exactly as exports show it
        norm VARCHAR NOT NULL,
        person_id VARCHAR               -- resolved through person_accounts, else NULL
    );
    CREATE TABLE relations (
        person_id VARCHAR NOT NULL,
        other_id VARCHAR NOT NULL,
        relation VARCHAR NOT NULL,      -- subordinate | service_object | family | colleague
        extra VARCHAR
    );
    -- Movements with both parties resolved to persons where the roster allows (the
    -- resolution is stored in transactions, so that scans read it without joins).
    CREATE VIEW movements AS SELECT * FROM transactions;
    """,
    # 2: scans and findings
    """
    CREATE TABLE scans (
        scan_id INTEGER PRIMARY KEY,
        started_at TIMESTAMP NOT NULL,
        finished_at TIMESTAMP,
        window_scope VARCHAR,           -- --window as given
        since DATE,
        until DATE,
        rules VARCHAR NOT NULL,         -- JSON: [{id, sha256, params}]
        findings INTEGER,
        rpa_version VARCHAR NOT NULL
    );
    CREATE TABLE findings (
        id VARCHAR PRIMARY KEY,         -- stable: the same rule, subject and evidence give the same id
        rule VARCHAR NOT NULL,
        severity VARCHAR NOT NULL,
        score DOUBLE NOT NULL,          -- 0-100
        subject VARCHAR NOT NULL,       -- person_id when the roster resolves it, else the account
        counterparties VARCHAR[] NOT NULL,
        window_name VARCHAR,
        start_ts TIMESTAMP,
        end_ts TIMESTAMP,
        total_amount DECIMAL(18,2),
        txn_count BIGINT,
        reason_zh VARCHAR NOT NULL,
        reason_en VARCHAR NOT NULL,
        metrics VARCHAR,                -- JSON: the rule's other output columns
        params VARCHAR,                 -- JSON: the parameter values the rule ran with
        scan_id INTEGER NOT NULL,
        evidence BIGINT[] NOT NULL      -- transactions.id of the evidence movements, sorted
    );
    -- One row per (finding, evidence movement), for joins.
    CREATE VIEW finding_evidence AS
    SELECT id AS finding_id, unnest(evidence) AS transaction_id FROM findings;
    """,
    # 3: triage, suppressions, the audit log. A re-scan no longer deletes findings: one
    # that its rule's latest scan did not give again is kept, marked stale.
    # (`by` and `at` are SQL keywords: the columns are actor and *_at.)
    """
    ALTER TABLE findings ADD COLUMN first_scan_id INTEGER;     -- the scan that first gave it
    ALTER TABLE findings ADD COLUMN stale_scan_id INTEGER;     -- the scan that made it stale
    ALTER TABLE findings ADD COLUMN suppressed_by INTEGER;     -- the suppression that matched it at its latest scan
    -- Its rule's latest scan did not give it. Last of the ALTERs and without NOT NULL
    -- (the default fills it): DuckDB 1.5 cannot add a column with a constraint, nor
    -- commit an ALTER that follows one adding a column with a default.
    ALTER TABLE findings ADD COLUMN stale BOOLEAN DEFAULT false;
    UPDATE findings SET first_scan_id = scan_id;               -- scan_id: the latest scan that gave it
    -- Append-only: the current status of a finding is its latest row ('new' when none).
    CREATE TABLE triage (
        triage_id INTEGER PRIMARY KEY,  -- order of the decisions
        finding_id VARCHAR NOT NULL,
        status VARCHAR NOT NULL,        -- new | reviewing | confirmed | dismissed | escalated
        note VARCHAR,
        actor VARCHAR NOT NULL,         -- who decided (--by, else the OS user)
        decided_at TIMESTAMP NOT NULL,
        scan_id INTEGER                 -- the latest scan that had given the finding: the data decided on
    );
    CREATE TABLE suppressions (
        suppression_id INTEGER PRIMARY KEY,
        rule VARCHAR NOT NULL,
        subject VARCHAR NOT NULL,       -- as findings.subject
        counterparty VARCHAR,           -- NULL: any; else must be among findings.counterparties
        until DATE NOT NULL,            -- applies while the scan date is on or before it
        why VARCHAR NOT NULL,
        actor VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL
    );
    -- Append-only, hash-chained: hash = sha256(prev_hash || canonical JSON of
    -- {seq, at, actor, action, details}); see audit.py.
    CREATE TABLE audit_log (
        seq BIGINT PRIMARY KEY,         -- 1, 2, 3 ... without gaps
        logged_at VARCHAR NOT NULL,     -- ISO 8601 local time with UTC offset, exactly as hashed
        actor VARCHAR NOT NULL,
        action VARCHAR NOT NULL,        -- ingest | roster | scan | triage | suppress | report
        details VARCHAR NOT NULL,       -- canonical JSON
        prev_hash VARCHAR NOT NULL,     -- the previous entry's hash (64 zeros for the first)
        hash VARCHAR NOT NULL
    );
    """,
    # 4: the reports written from the case (`rpa report`). A report's sha256 is that of
    # its manifest.json, which lists every other file of the report with its own SHA-256.
    """
    CREATE TABLE reports (
        report_id INTEGER PRIMARY KEY,
        path VARCHAR NOT NULL,          -- the report folder
        sha256 VARCHAR NOT NULL,        -- of its manifest.json
        generated_at TIMESTAMP NOT NULL,
        lang VARCHAR NOT NULL,          -- zh | en
        masked BOOLEAN NOT NULL,        -- names and accounts replaced by pseudonyms
        scope VARCHAR,                  -- JSON {findings, persons} when restricted, else NULL
        files INTEGER NOT NULL,
        bytes BIGINT NOT NULL,
        actor VARCHAR NOT NULL
    );
    """,
    # 5: sightings, then movements. Every row read from an export is a sighting, kept
    # as read and never changed; `transactions` (one row per money movement) is derived
    # from the set of sightings and the roster by consolidate.py, whatever the order in
    # which files and roster arrived. A case of an earlier version becomes one sighting
    # per stored movement; its duplicates stay as they were recorded.
    """
    CREATE TABLE sightings (
        sighting_id BIGINT NOT NULL,    -- in order of ingest; a movement's id is its first sighting's
        source_id INTEGER NOT NULL,
        line BIGINT NOT NULL,
        txn_id VARCHAR,
        match_id VARCHAR,
        packet_id VARCHAR,
        -- ts, amount, direction, kind, status and channel are never NULL in a stored
        -- sighting, but carry no NOT NULL: a file is bulk-inserted, then its invalid rows
        -- are moved to `rejects` in the same transaction (ingest.stage.reject_invalid).
        ts TIMESTAMP,
        payer VARCHAR,
        payee VARCHAR,
        payer_name VARCHAR,
        payee_name VARCHAR,
        amount DECIMAL(18,2),
        direction VARCHAR,              -- out | in | neutral | both: whose view the row is
        kind VARCHAR,
        status VARCHAR,
        channel VARCHAR,
        memo VARCHAR,
        raw_type VARCHAR,
        raw_status VARCHAR,
        refund_ref VARCHAR,
        raw VARCHAR
    );
    INSERT INTO sightings
    SELECT id, source_id, line, txn_id, match_id, packet_id, ts, payer, payee, payer_name, payee_name, amount,
           CASE WHEN seen_by_payer AND seen_by_payee THEN 'both' WHEN seen_by_payer THEN 'out' ELSE 'in' END,
           kind, status, channel, memo, raw_type, raw_status, refund_ref, raw
    FROM transactions;
    -- Derived (consolidate.py): which movement each sighting is a sighting of, and how
    -- it was recognised ('first' for the sighting that gives the movement its id).
    CREATE TABLE sighting_movements (
        sighting_id BIGINT NOT NULL,
        movement_id BIGINT NOT NULL,
        matched_on VARCHAR NOT NULL     -- first | same row | shared id | parties+amount+time | group packet total
    );
    INSERT INTO sighting_movements SELECT id, id, 'first' FROM transactions;
    -- Derived: nicknames (as WeChat bills show them) learned to be an account (as Tenpay
    -- shows it) from movements both exports carry under one id.
    CREATE TABLE alias_links (
        alias VARCHAR NOT NULL,         -- normalised nickname
        account VARCHAR NOT NULL,       -- the account it was seen as
        movements BIGINT NOT NULL,      -- how many shared-id movements showed the pair
        status VARCHAR NOT NULL         -- used | ambiguous (the alias was seen as several accounts)
    );
    -- Derived: choices between candidates that consolidation made, so none is silent.
    CREATE TABLE match_notes (
        movement_id BIGINT NOT NULL,
        note VARCHAR NOT NULL
    );
    ALTER TABLE duplicates RENAME TO duplicates_v4;
    CREATE VIEW duplicates AS
    SELECT s.source_id, s.line, l.movement_id AS transaction_id, l.matched_on, s.raw
    FROM sighting_movements l JOIN sightings s USING (sighting_id)
    WHERE l.matched_on <> 'first'
    UNION ALL
    SELECT source_id, line, transaction_id, matched_on, raw FROM duplicates_v4;
    """,
    # 6: fingerprints of the evidence, for `rpa verify`: one row per stored row a source
    # gave (sighting, reject) and per finding, with the hash of its content.
    # The audit log holds the digest over each set (audit.py), which protects this table;
    # this table lets verify name which rows changed.
    """
    CREATE TABLE fingerprints (
        kind VARCHAR NOT NULL,          -- source | findings
        owner INTEGER NOT NULL,         -- source_id; 0 for the findings
        row_kind VARCHAR NOT NULL,      -- sighting | reject | finding
        item BIGINT,                    -- sighting id, or line of a reject
        name VARCHAR,                   -- finding id
        hash VARCHAR NOT NULL           -- MD5 of the row's content (audit.py)
    );
    """,
    # 7: how each account resolved when the movements were last derived (consolidate.py):
    # the next derivation goes again over the movements of the accounts that resolve
    # otherwise now (a roster change, a real name or an alias link learned).
    """
    CREATE TABLE account_keys (
        account VARCHAR NOT NULL,       -- as in `accounts`
        person_id VARCHAR,              -- its person: the roster, else the real name shown beside it
        key VARCHAR                     -- what movements are matched on: the person, else the account through its alias link
    );
    """,
    # 8: the derived movements no longer copy their first sighting's raw cells (half of a
    # Tenpay case's size, written again at every derivation): `movement_rows` holds the
    # rest, and `transactions`, a view, adds `raw` from the sighting whose id the
    # movement has, with the columns and meaning it always had.
    """
    CREATE TABLE movement_rows (
        id BIGINT NOT NULL,             -- the movement's id: its first sighting's sighting_id
        txn_id VARCHAR,
        match_id VARCHAR,
        packet_id VARCHAR,
        ts TIMESTAMP,
        payer VARCHAR,
        payee VARCHAR,
        payer_name VARCHAR,
        payee_name VARCHAR,
        amount DECIMAL(18,2),
        kind VARCHAR,
        status VARCHAR,
        channel VARCHAR,
        memo VARCHAR,
        raw_type VARCHAR,
        raw_status VARCHAR,
        refund_ref VARCHAR,
        refund_of BIGINT,
        seen_by_payer BOOLEAN,
        seen_by_payee BOOLEAN,
        source_id INTEGER NOT NULL,
        line BIGINT NOT NULL,
        payer_person VARCHAR,
        payee_person VARCHAR
    );
    INSERT INTO movement_rows SELECT * EXCLUDE (raw) FROM transactions;
    DROP VIEW movements;
    DROP TABLE transactions;
    CREATE VIEW transactions AS
    SELECT m.id, m.txn_id, m.match_id, m.packet_id, m.ts, m.payer, m.payee, m.payer_name, m.payee_name, m.amount,
           m.kind, m.status, m.channel, m.memo, m.raw_type, m.raw_status, m.refund_ref, m.refund_of, m.seen_by_payer,
           m.seen_by_payee, m.source_id, m.line, s.raw, m.payer_person, m.payee_person
    FROM movement_rows m LEFT JOIN sightings s ON s.sighting_id = m.id;
    CREATE VIEW movements AS SELECT * FROM transactions;
    """,
    # 9: the evidence of the alias links (consolidate.py): which shared-id group showed
    # which nickname as which account, so that a derivation around new files counts the
    # links again without going over the whole case. A case that had links derives
    # everything once more at its next ingest or roster load, which fills it.
    """
    CREATE TABLE alias_evidence (
        comp BIGINT NOT NULL,           -- the group of sightings that share an id: its smallest sighting_id
        alias VARCHAR NOT NULL,         -- normalised nickname, as in alias_links
        account VARCHAR NOT NULL
    );
    INSERT OR REPLACE INTO meta SELECT 'consolidated', 'no' FROM alias_links LIMIT 1;
    """,
    # 10: the names shown beside the accounts in the sightings (payer with payer_name,
    # payee with payee_name), each pair once: an account resolves to a person through the
    # real name shown beside it, and a derivation around a new bill no longer reads every
    # sighting to find them (1.1 s of a bill's 5.7 s at 10M movements). Kept up by the
    # derivation (consolidate.py); a whole derivation rebuilds it from the sightings.
    """
    CREATE TABLE shown_names (
        account VARCHAR NOT NULL,
        name VARCHAR NOT NULL
    );
    INSERT INTO shown_names
    SELECT payer, payer_name FROM sightings WHERE payer IS NOT NULL AND payer_name IS NOT NULL
    UNION
    SELECT payee, payee_name FROM sightings WHERE payee IS NOT NULL AND payee_name IS NOT NULL;
    """,
    # 11: no PRIMARY KEY on the tables that grow with every file loaded (sources,
    # audit_log, accounts). DuckDB rewrote a keyed table's last row group whole at each
    # checkpoint: 0.2-0.4 s each in a 10M-movement case, paid by every ingest batch and
    # every command that adds a row. rpa gives the ids itself (max + 1, one writer at a
    # time); `rpa verify` checks the audit log's seq, gaps and repeats both.
    """
    CREATE TABLE sources_11 (
        source_id INTEGER NOT NULL, path VARCHAR NOT NULL, name VARCHAR NOT NULL, sha256 VARCHAR NOT NULL,
        size BIGINT NOT NULL, format VARCHAR NOT NULL, encoding VARCHAR, owner VARCHAR, owner_name VARCHAR,
        period_start VARCHAR, period_end VARCHAR, rows_read BIGINT NOT NULL, rows_loaded BIGINT NOT NULL,
        rows_duplicate BIGINT NOT NULL, rows_rejected BIGINT NOT NULL, first_ts TIMESTAMP, last_ts TIMESTAMP,
        ingested_at TIMESTAMP NOT NULL, rpa_version VARCHAR NOT NULL
    );
    INSERT INTO sources_11 SELECT * FROM sources ORDER BY source_id;
    DROP TABLE sources;
    ALTER TABLE sources_11 RENAME TO sources;
    CREATE TABLE audit_log_11 (
        seq BIGINT NOT NULL, logged_at VARCHAR NOT NULL, actor VARCHAR NOT NULL, action VARCHAR NOT NULL,
        details VARCHAR NOT NULL, prev_hash VARCHAR NOT NULL, hash VARCHAR NOT NULL
    );
    INSERT INTO audit_log_11 SELECT * FROM audit_log ORDER BY seq;
    DROP TABLE audit_log;
    ALTER TABLE audit_log_11 RENAME TO audit_log;
    CREATE TABLE accounts_11 (account VARCHAR NOT NULL, norm VARCHAR NOT NULL, person_id VARCHAR);
    INSERT INTO accounts_11 SELECT * FROM accounts ORDER BY account;
    DROP TABLE accounts;
    ALTER TABLE accounts_11 RENAME TO accounts;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
DB_NAME = "rpa.duckdb"


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One transaction: committed when the block ends, rolled back on any exception
    (an interrupt too), so a change is in the case whole or not at all."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


@contextmanager
def unordered(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Statements in the block may write rows in any order (DuckDB then inserts and
    aggregates on every thread, and keeps less in memory); the setting as it was is put
    back after. For statements whose results carry their own order (line numbers, ids)
    or none that matters (digests sort their rows)."""
    before = con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]
    con.execute("SET preserve_insertion_order = false")
    try:
        yield
    finally:
        try:
            con.execute(f"SET preserve_insertion_order = {'true' if before else 'false'}")
        except duckdb.TransactionException:  # an aborted transaction: the rollback comes first
            pass


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The schema version of an open case, 0 for an empty database."""
    has_meta = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta'"
    ).fetchall()[0][0]
    if not has_meta:
        return 0
    row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
    return int(row[0][0]) if row else 0


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Bring the schema up to SCHEMA_VERSION, one migration per transaction.

    Returns the number of migrations applied. Refuses a case made by a newer rpa.
    """
    current = schema_version(con)
    if current > SCHEMA_VERSION:
        raise RpaError(
            f"this case has schema version {current}, newer than this rpa understands "
            f"({SCHEMA_VERSION}): upgrade rpa"
        )
    for version in range(current + 1, SCHEMA_VERSION + 1):
        con.execute("BEGIN")
        con.execute(MIGRATIONS[version - 1])
        con.execute(
            "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?), ('rpa_version', ?)",
            [str(version), __version__],
        )
        con.execute("COMMIT")
    return SCHEMA_VERSION - current


# DuckDB's own default is 80 % of RAM. rpa keeps its working memory bounded (beyond
# it DuckDB spills to a temporary folder beside the database) so that a scan of a large
# case stays within what an investigator's laptop can spare. Env RPA_MEMORY_LIMIT
# changes it (a DuckDB size, e.g. "4GB").
DEFAULT_MEMORY_LIMIT = "512MB"


# A second rpa that finds the case locked by another process waits this long (env
# RPA_BUSY_WAIT, seconds) for it to finish before saying the case is busy.
DEFAULT_BUSY_WAIT = 5.0
REOPEN_WAIT = 300.0


def memory_limit() -> str:
    """The memory DuckDB may use (env RPA_MEMORY_LIMIT, else DEFAULT_MEMORY_LIMIT)."""
    return os.environ.get("RPA_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT


def connect(
    path: Path, *, read_only: bool = False, new_key: str | None = None, wait: float | None = None
) -> CaseConnection:
    """Open a case database. If another process holds its lock, wait briefly (retrying),
    then raise CaseBusyError: one line, no traceback, nothing touched. `wait` (seconds)
    overrides env RPA_BUSY_WAIT.

    An encrypted case is opened with the key from env RPA_KEY (or a prompt in a
    terminal). `new_key` creates a new database encrypted with that key.
    """
    config = {
        "memory_limit": memory_limit(),
        # No download of any kind at run time: an extension rpa needs ships with it.
        "autoinstall_known_extensions": False,
    }
    if wait is None:
        try:
            wait = float(os.environ.get("RPA_BUSY_WAIT") or DEFAULT_BUSY_WAIT)
        except ValueError:
            raise RpaError("RPA_BUSY_WAIT must be a number of seconds") from None
    deadline = time.monotonic() + wait
    key = new_key
    while True:
        try:
            if key is None:
                con = duckdb.connect(str(path), read_only=read_only, config=config)
            else:
                con = _connect_encrypted(path, key, read_only=read_only, config=config)
            con.execute("SET enable_progress_bar = false")  # rpa reports progress itself; stdout stays clean
            # reopened (CaseConnection.reopen) the same way; a reader that slipped in
            # while it was closed is waited for longer than a new command would be
            return CaseConnection(con, lambda: connect(path, read_only=read_only, new_key=key, wait=max(wait, REOPEN_WAIT))._con)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise RpaError(f"cannot open {path}: {str(exc).splitlines()[0]}") from None
            if time.monotonic() >= deadline:
                raise CaseBusyError(
                    f"the case {path.parent} is busy: another rpa process is using it "
                    f"(waited {wait:g} s); try again when it ends"
                ) from None
            time.sleep(0.2)
        except duckdb.Error as exc:
            message = str(exc)
            if key is None and "encrypted database" in message and "without a key" in message:
                key = case_key(path)
                continue
            if "wrong encryption key" in message.lower():
                raise CaseKeyError(f"wrong key for the encrypted case {path.parent} (RPA_KEY)") from None
            raise RpaError(f"cannot open {path}: {message.splitlines()[0]}") from None


# The catalog name under which an encrypted case is attached (and made the default,
# so every query reads it as it would read a plain case).
ENCRYPTED_CATALOG = "rpa_case"


def _connect_encrypted(path: Path, key: str, *, read_only: bool, config: dict) -> duckdb.DuckDBPyConnection:
    """DuckDB's own database encryption (AES-GCM). Writing it securely needs the crypto
    of the httpfs extension, which rpa takes from the `duckdb-extension-httpfs` package
    (never downloaded). Temporary files that spill to disk are encrypted too."""
    extension = httpfs_extension_path()
    con = duckdb.connect(":memory:", config=config)
    try:
        con.execute(f"LOAD {literal(str(extension))}")
        con.execute(f"SET temp_directory = {literal(str(path) + '.tmp')}")
        con.execute("SET temp_file_encryption = true")
        options = f"ENCRYPTION_KEY {literal(key)}" + (", READ_ONLY" if read_only else "")
        con.execute(f"ATTACH {literal(str(path))} AS {ENCRYPTED_CATALOG} ({options})")
        con.execute(f"USE {ENCRYPTED_CATALOG}")
    except BaseException:
        con.close()
        raise
    return con


def httpfs_extension_path() -> Path:
    """The httpfs extension built for the running duckdb, from the duckdb-extension-httpfs package."""
    try:
        import duckdb_extension_httpfs
    except ImportError:
        raise RpaError("encrypted cases need the package duckdb-extension-httpfs: reinstall rpa") from None
    path = Path(duckdb_extension_httpfs.__file__).parent / "extensions" / f"v{duckdb.__version__}" / "httpfs.duckdb_extension"
    if not path.is_file():
        raise RpaError(
            f"encrypted cases need duckdb-extension-httpfs built for duckdb {duckdb.__version__}: "
            "reinstall rpa so that the two match"
        )
    return path


def is_encrypted(path: Path) -> bool:
    """Whether a case database is encrypted (read from the file without a key)."""
    try:
        duckdb.connect(str(path), read_only=True, config={"autoinstall_known_extensions": False}).close()
    except duckdb.Error as exc:
        return "encrypted database" in str(exc)
    return False


def case_key(path: Path, *, confirm: bool = False) -> str:
    """The key of an encrypted case: env RPA_KEY, else asked for in a terminal.

    rpa never stores it; with `confirm` (a new case) it is asked for twice.
    """
    key = os.environ.get("RPA_KEY")
    if key:
        return key
    if not confirm and path.parent in _TYPED_KEYS:
        return _TYPED_KEYS[path.parent]  # verify's copy beside the case: asked once
    if not sys.stdin.isatty():
        if confirm:
            raise CaseKeyError(f"give the key of the new case {path.parent} in env RPA_KEY (or type it in a terminal)")
        raise CaseKeyError(f"the case {path.parent} is encrypted: give its key in env RPA_KEY")
    key = getpass.getpass(f"key for the case {path.parent}: ")
    if confirm and getpass.getpass("the same key again: ") != key:
        raise CaseKeyError("the two keys differ; nothing was made")
    if not key:
        raise CaseKeyError("an empty key; nothing was done")
    _TYPED_KEYS[path.parent] = key
    return key


# Keys typed in this process, by case folder (in memory only, for this command).
_TYPED_KEYS: dict[Path, str] = {}
