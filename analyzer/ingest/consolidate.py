"""Movements from sightings: the derived part of a case.

Every row read from an export is a *sighting* (table `sightings`, append-only). The
movements the rules read (`transactions`, one row per money movement) are derived from
the set of sightings and the roster by `consolidate`, set-wise in DuckDB:

1. **Same row twice**: identical rows of one file (same ids, time, parties, amount,
   side) are one sighting seen twice.
2. **Shared ids**: sightings in different files with the same 交易单号 (`txn_id`), or
   the same id the other party's export carries (`match_id`: WeChat 商户单号, Tenpay
   大单号 = a WeChat bill's 交易单号 for merchant and QR payments), the same amount and
   times within ID_MATCH_HOURS are one movement, however their parties are named
   (nickname, wxid, real name). A shared `match_id` alone also needs parties that do
   not contradict each other (the grabbers of one group packet share its 商户单号).
   One to one per pair of files: the nearest in time, then the content key.
3. **Alias links**: from such pairs between a WeChat bill (nicknames) and a Tenpay
   production (accounts), each nickname is learned to be an account (`alias_links`);
   a nickname seen as two accounts is ambiguous and not used.
4. **Parties, amount and time**: movements without a shared id (WeChat transfers,
   whose bill id differs from Tenpay's) match on payer, payee (the roster person, else
   the account through the alias links, else the normalised account) and amount, with
   times within MATCH_SECONDS, in rounds of mutual nearest pairs between movements
   seen in no common file, so five 200-yuan packets a minute apart stay five.
5. **Group red packets**: the sender's WeChat row of the packet's total (交易对方
   发出群红包) joins its packet (its 交易单号 is the Tenpay rows' packet id; its 商户单号
   the grabbers' shared id). A packet's money is its shares; the total row stands as a
   movement only for the part of the total no share accounts for (unclaimed, or grabbed
   by accounts whose exports are not in the case), and not at all when the shares
   account for all of it.
6. **Refunds** link to their original whatever the order of the files: by the id the
   refund names, else by the nearest earlier movement going the other way.

Every choice between candidates is made on the content (time, then the source file's
SHA-256 and line), never on ingest order, so the movements are a function of the set
of sightings and the roster. A movement's id is the smallest sighting_id of its own
sightings (its first sighting), so it keeps its id when more sightings of it arrive
and when the roster changes, unless the change merges it into an older movement.
Choices that had several candidates are written to `match_notes`.
"""

from __future__ import annotations

import duckdb

from analyzer.errors import RpaError
from analyzer.pause import pause_point

MATCH_SECONDS = 120  # two exports of one movement show times at most this far apart
ID_MATCH_HOURS = 48  # a shared id matches within this time (a packet is grabbed up to 24 h after it was sent)
REFUND_DAYS = 30  # a refund without an id gives back a movement at most this many days older
ROUNDS = 50  # at most this many rounds of mutual-nearest pairing (a movement seen in four exports needs three)

# Which sighting speaks for a movement's fields (parties, ids, memo): the layout that
# names accounts (Tenpay, canonical), then the bills; within one, the payer's view; then
# the content key. Never the order of ingest.
_LAYOUT_RANK = """CASE WHEN fmt LIKE 'tenpay%' THEN 0 WHEN fmt LIKE 'canonical%' THEN 1
                       WHEN fmt LIKE 'wechat%' THEN 2 ELSE 3 END"""
_VIEW_RANK = "CASE direction WHEN 'both' THEN 0 WHEN 'out' THEN 1 WHEN 'neutral' THEN 2 ELSE 3 END"
# A status that says what finally happened to the money wins over the plain one, from
# whichever export shows it (a later bill shows 已全额退款 where an earlier one said 支付成功).
_STATUS_RANK = """CASE status WHEN 'refunded' THEN 0 WHEN 'returned' THEN 1 WHEN 'partly_refunded' THEN 2
                  WHEN 'closed' THEN 3 WHEN 'failed' THEN 4 ELSE 9 END"""

# A movement's fields that another of its sightings fills when the one that speaks for
# it leaves them empty.
_FILLED = ("match_id", "payer", "payee", "payer_name", "payee_name", "memo", "refund_ref")

# The columns of `sightings` a movement is written from (not the raw cells).
_FIELDS = """sighting_id, source_id, line, txn_id, match_id, ts, payer, payee, payer_name, payee_name, amount,
             direction, kind, status, channel, memo, raw_type, raw_status, refund_ref"""

_TEMP = ("c_s", "c_same", "c_r", "c_pairs", "c_lab", "c_node", "c_nodes", "c_cand", "c_merge", "c_keys",
         "c_person", "c_kid", "c_pkey", "c_pk", "c_mv", "c_fillrow", "c_primary", "c_single", "c_over", "c_pick", "c_cand_ids", "c_fill", "c_changed", "c_total", "c_refund", "c_links", "c_evidence", "c_old", "c_scope")


# New files whose neighbourhood is more than this share of the case are derived with
# the whole case (the neighbourhood search would cost as much).
SCOPE_SHARE = 0.4


class _Widen(Exception):
    """The neighbourhood teaches alias links other than the case's (a new one, or one
    that became ambiguous): the accounts they change are taken in and the neighbourhood
    grown again (`alias_links` already holds the new links)."""


# A neighbourhood grown this many times because it taught new alias links is given up
# for a whole derivation.
WIDEN_ROUNDS = 5


def consolidate(con: duckdb.DuckDBPyConnection, new_sources: list[int] | None = None) -> None:
    """Derive `transactions`, `sighting_movements`, `alias_links`, `match_notes` and
    the derived counts of `sources` from the sightings and the roster, in the caller's
    transaction if there is one, else statement by statement (verify derives a copy of
    the case so; the commands mark the case first, see derive_movements); touches
    nothing else.

    With `new_sources` (the files just loaded), only a neighbourhood is derived again:
    their sightings and those of the accounts that resolve otherwise than at the last
    derivation (`account_keys`), every sighting that shares an id with them or the same
    amount close in time between the same payer or payee, and the movements those
    belong to, grown until nothing outside can pair with anything inside. Nothing
    outside can then change, so the result is the one the whole case would give. When
    the new files teach a new alias link (a nickname now known as an account, which
    changes the parties of that nickname's movements anywhere), the accounts it changes
    join the seed and the neighbourhood is grown again; when the neighbourhood is most
    of the case, or keeps teaching links (WIDEN_ROUNDS), the whole case is derived."""
    _consolidate(con, _sources_seed(new_sources))


def _sources_seed(new_sources: list[int] | None) -> str | None:
    """SQL selecting the sightings of the files just loaded (None: the whole case)."""
    if new_sources is None:
        return None
    return f"SELECT sighting_id FROM sightings WHERE source_id IN ({', '.join(str(int(s)) for s in new_sources) or 'NULL'})"


def _consolidate(con, seed: str | None) -> None:
    """Derive the neighbourhood of the sightings `seed` selects and of the accounts
    that resolve otherwise than at the last derivation, or everything (seed None)."""
    # No table here has a meaningful row order (every choice is made on content), and
    # keeping one costs memory: under the 512 MB limit the pairing of a 1M-movement
    # case of bills ran out of it.
    from analyzer.db import unordered

    with unordered(con):
        try:
            _consolidate_unordered(con, seed)
        finally:
            _drop_temp(con)


def _consolidate_unordered(con, seed: str | None) -> None:
    """_consolidate, with insertion order already free."""
    # (an ingest derives a stale case whole before it loads: its own files are the seed)
    seed_rows = 0 if seed is None else con.execute(f"SELECT count(*) FROM ({seed})").fetchall()[0][0]
    if seed is not None and seed_rows > SCOPE_SHARE * con.execute("SELECT count(*) FROM sightings").fetchall()[0][0]:
        # A first ingest's own files are the whole case: no neighbourhood to grow (its
        # scope was 13.6M ids at 10M movements, built to be thrown away).
        seed = None
    _shown_names(con, seed)
    if seed is not None:
        for round_ in range(WIDEN_ROUNDS):
            # with the alias links as they are (or as the last round learned them)
            _person(con)
            # An account the last derivation did not know is seen only in the files
            # loaded since, the seed: it is not looked for in the rest of the case (a
            # bill's new nicknames cost a scan of every sighting). account_keys empty:
            # a case derived before it was kept (migration 7), every account counts.
            con.execute(
                """CREATE OR REPLACE TEMP TABLE c_changed AS
                   SELECT account FROM (SELECT account, person_id, key FROM c_person
                                        EXCEPT SELECT account, person_id, key FROM account_keys)
                   WHERE account IN (SELECT account FROM account_keys) OR NOT EXISTS (SELECT 1 FROM account_keys)"""
            )
            changed = con.execute("SELECT count(*) FROM c_changed").fetchall()[0][0]
            grown = seed
            if changed:
                grown = f"{seed} UNION {_sightings_where_any(('payer', 'payee', 'payer_name', 'payee_name'), 'c_changed', 'account')}"
            elif round_ == 0 and not seed_rows:
                return  # nothing new, nothing resolves otherwise
            if not _scope(con, grown):
                break
            try:
                _derive(con, scoped=True)
                return
            except _Widen:
                for table in _TEMP:
                    con.execute(f"DROP TABLE IF EXISTS {table}")
    con.execute("DROP TABLE IF EXISTS c_scope")
    _derive(con, scoped=False)


def _drop_temp(con) -> None:
    """Drop the derivation's temporary tables; after a failed statement the
    transaction is aborted and they go with its rollback (trying would hide the
    error that failed it)."""
    try:
        for table in _TEMP:
            con.execute(f"DROP TABLE IF EXISTS {table}")
    except duckdb.TransactionException:
        pass


def _derive(con, *, scoped: bool) -> None:
    _sightings(con, scoped)
    # Sightings pair only across files: with one file in view (a first file, a single
    # big canonical file) there is nothing to pair, and the pairing's joins are skipped
    # (at 1M rows: 1.6 s of statements, 11.7 → 10.8 s for the whole ingest).
    one_file = con.execute("SELECT coalesce(min(source_id) = max(source_id), true) FROM c_s").fetchall()[0][0]
    _same_rows(con)
    _shared_ids(con, one_file)
    _alias_links(con, scoped)
    if not scoped:  # scoped: c_person was made before the scope, with the same alias links
        _person(con)
    _keys(con)
    _parties_amount_time(con, one_file)
    _packets(con)
    _write(con, scoped)
    pause_point("derive.half_written")  # movements written, refunds not yet linked
    _refunds(con, scoped)
    _source_counts(con, scoped)
    # Only what changed is written: the whole table again cost a 10M case's bill 0.8 s
    # of checkpoint when the command ended.
    con.execute(
        """DELETE FROM account_keys WHERE account IN (
               SELECT account FROM (SELECT account, person_id, key FROM account_keys
                                    EXCEPT SELECT account, person_id, key FROM c_person))"""
    )
    con.execute(
        """INSERT INTO account_keys
           SELECT account, person_id, key FROM c_person EXCEPT SELECT account, person_id, key FROM account_keys"""
    )
    con.execute("INSERT OR REPLACE INTO meta VALUES ('consolidated', 'yes')")


# SQL: rows of sightings with their time bucket and their parties' matching keys
# (c_person, as _keys gives them).
_KEYED = f"""
    SELECT r.sighting_id, r.amount, CAST(floor(epoch(r.ts) / {MATCH_SECONDS}) AS BIGINT) AS b,
           coalesce(p.person_id, pn.person_id, p.key) AS payer_key, coalesce(q.person_id, qn.person_id, q.key) AS payee_key
    FROM {{rows}} r
    LEFT JOIN c_person p ON p.account = r.payer LEFT JOIN c_person pn ON pn.account = r.payer_name
    LEFT JOIN c_person q ON q.account = r.payee LEFT JOIN c_person qn ON qn.account = r.payee_name
"""


def _scope(con, seed: str) -> bool:
    """c_scope(sid): the sightings `seed` selects and their neighbourhood (see
    consolidate). False when it is most of the case: derive everything."""
    total = con.execute("SELECT count(*) FROM sightings").fetchall()[0][0]
    con.execute(f"CREATE OR REPLACE TEMP TABLE c_scope AS SELECT DISTINCT sighting_id AS sid FROM ({seed})")
    size = con.execute("SELECT count(*) FROM c_scope").fetchall()[0][0]
    for _ in range(20):
        if size > SCOPE_SHARE * total:
            return False
        con.execute(
            f"""
            INSERT INTO c_scope
            WITH inside AS (SELECT s.* FROM sightings s SEMI JOIN c_scope c ON c.sid = s.sighting_id),
            ids AS (SELECT DISTINCT unnest([txn_id, match_id, packet_id, refund_ref]) AS id FROM inside),
            -- what may pair by parties, amount and time: the same amount close in time,
            -- and the same payer or payee as a whole derivation keys them (c_person)
            near AS (
                SELECT DISTINCT amount, unnest([b - 1, b, b + 1]) AS bucket, payer_key, payee_key
                FROM ({_KEYED.format(rows="inside")})
            ),
            candidates AS (
                SELECT * FROM sightings
                WHERE (amount, CAST(floor(epoch(ts) / {MATCH_SECONDS}) AS BIGINT)) IN (SELECT (amount, bucket) FROM near)
            ),
            keyed AS ({_KEYED.format(rows="candidates")}),
            span AS (SELECT min(ts) AS lo, max(ts) + INTERVAL {REFUND_DAYS} DAY AS hi FROM inside),
            reached AS (
                {_sightings_where_any(("txn_id", "match_id", "packet_id", "refund_ref"), "ids", "id")}
                UNION
                SELECT k.sighting_id FROM keyed k SEMI JOIN near n ON n.amount = k.amount AND n.bucket = k.b AND n.payer_key = k.payer_key
                UNION
                SELECT k.sighting_id FROM keyed k SEMI JOIN near n ON n.amount = k.amount AND n.bucket = k.b AND n.payee_key = k.payee_key
                UNION
                -- refunds that may give back a movement inside (the nearest earlier one)
                SELECT sighting_id FROM sightings, span WHERE kind = 'refund' AND ts BETWEEN span.lo AND span.hi
            ),
            movements AS (
                SELECT DISTINCT l.movement_id FROM sighting_movements l SEMI JOIN reached r ON r.sighting_id = l.sighting_id
            )
            SELECT sighting_id FROM reached
            UNION SELECT l.sighting_id FROM sighting_movements l SEMI JOIN movements m ON m.movement_id = l.movement_id
            EXCEPT SELECT sid FROM c_scope
            """
        )
        grown = con.execute("SELECT count(*) FROM c_scope").fetchall()[0][0]
        if grown == size:
            return True
        size = grown
    return False


def _sightings_where_any(columns: tuple[str, ...], table: str, key: str, select: str = "sighting_id") -> str:
    """SQL: `select` of the sightings whose value in any of `columns` is a `key` of
    `table`, as a semi join per column: one filter of the columns ORed took 3x as long
    at 10M movements."""
    return " UNION ".join(f"SELECT {select} FROM sightings SEMI JOIN {table} t ON t.{key} = {column}" for column in columns)


def mark_stale(con: duckdb.DuckDBPyConnection) -> None:
    """Say that sightings changed since the movements were derived (in the same
    transaction as the change): the next writing command consolidates first."""
    con.execute("INSERT OR REPLACE INTO meta VALUES ('consolidated', 'no')")


def is_stale(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether sightings arrived that the movements do not reflect yet (an ingest was
    stopped between loading files and deriving the movements), or a derivation stopped
    half-way (see is_interrupted)."""
    row = con.execute("SELECT value FROM meta WHERE key = 'consolidated'").fetchall()
    return bool(row) and row[0][0] in ("no", "deriving")


def is_interrupted(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether a derivation stopped half-way (killed, or out of memory): the derived
    tables may then be partly written, and only a new derivation makes them whole."""
    row = con.execute("SELECT value FROM meta WHERE key = 'consolidated'").fetchall()
    return bool(row) and row[0][0] == "deriving"


def require_derived(con: duckdb.DuckDBPyConnection) -> None:
    """Refuse to read movements that a stopped derivation left partly written."""
    if is_interrupted(con):
        raise RpaError("the movements of this case were being derived when rpa stopped: "
                       "run `rpa scan` to derive them again, then try again")


def _sightings(con, scoped: bool = False) -> None:
    """c_s: what matching reads of each sighting, and no more (the memo, status texts and
    raw cells are read from `sightings` when the movements are written): every join of
    the derivation holds these rows, and at 10M sightings the wide ones did not fit in
    the memory limit."""
    # ckey: a content key (the file's SHA-256 and the line), the tie-break of every choice.
    # rank: which sighting speaks for a movement (_LAYOUT_RANK, then _VIEW_RANK);
    # srank: whose status wins (_STATUS_RANK); has: which fields a sighting fills (_FILLED).
    has = " + ".join(f"CASE WHEN s.{c} IS NOT NULL THEN {1 << i} ELSE 0 END" for i, c in enumerate(_FILLED))
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE c_s AS
        SELECT s.sighting_id AS sid, s.source_id, s.line, hash(src.sha256, s.line) AS ckey,
               CAST({_LAYOUT_RANK.replace('fmt', 'src.format')} AS UTINYINT) AS layout,
               CAST(({_LAYOUT_RANK.replace('fmt', 'src.format')}) * 10 + ({_VIEW_RANK.replace('direction', 's.direction')}) AS UTINYINT) AS rank,
               CAST({_STATUS_RANK.replace('status', 's.status')} AS UTINYINT) AS srank,
               CAST({has} AS UTINYINT) AS has,
               s.txn_id, s.match_id, s.packet_id, s.ts, s.amount, s.direction, s.kind,
               s.payer, s.payee, s.payer_name, s.payee_name,
               s.kind = 'group_red_packet' AND s.payee IS NULL AND s.direction IN ('out', 'both') AS is_total
        FROM sightings s JOIN sources src USING (source_id)
        """ + ("WHERE s.sighting_id IN (SELECT sid FROM c_scope)" if scoped else "")
    )


def _same_rows(con) -> None:
    """Step 1: identical rows of one file. Only rows whose txn_id repeats in their file
    can be (a file without ids may hold two real movements that look alike)."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE c_same AS
        SELECT sid, min(sid) OVER (PARTITION BY source_id, txn_id, match_id, ts, payer, payee, amount, direction, kind) AS rep
        FROM c_s
        WHERE (source_id, txn_id) IN (
            SELECT (source_id, txn_id) FROM c_s WHERE txn_id IS NOT NULL GROUP BY ALL HAVING count(*) > 1)
        """
    )
    con.execute("DELETE FROM c_same WHERE sid = rep")


def _shared_ids(con, one_file: bool = False) -> None:
    """Step 2: pairs of sightings in different files that share an id, one to one per
    pair of files, and the groups (components) they form (none when `one_file`)."""
    if one_file:
        con.execute("CREATE OR REPLACE TEMP TABLE c_pairs (a BIGINT, b BIGINT)")
        _components(con, "c_pairs")
        return
    compatible = """
        (a.payer_base IS NULL OR b.payer_base IS NULL OR a.payer_base = b.payer_base)
        AND (a.payee_base IS NULL OR b.payee_base IS NULL OR a.payee_base = b.payee_base)"""
    # The sightings that carry an id.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE c_r AS
        SELECT sid, source_id, ckey, ts, amount, txn_id, match_id, payer, payee, payer_name, payee_name FROM c_s
        WHERE (txn_id IS NOT NULL OR match_id IS NOT NULL) AND sid NOT IN (SELECT sid FROM c_same)
        """
    )
    # The candidate pairs, one kind of shared id at a time (a statement that did them
    # all at once, with a UNION, ran out of memory at 10M sightings under 512 MB). A pair
    # found by several kinds is kept once below: `via` breaks the tie between its copies
    # the same way from both ends.
    close = f"abs(epoch(a.ts) - epoch(b.ts)) <= {ID_MATCH_HOURS * 3600}"
    cols = "a.sid AS a, b.sid AS b, a.source_id AS sa, b.source_id AS sb, a.ckey AS akey, b.ckey AS bkey, abs(epoch(a.ts) - epoch(b.ts)) AS gap"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE c_cand_ids AS
        SELECT {cols}, 0 AS via FROM c_r a JOIN c_r b ON a.txn_id = b.txn_id AND a.amount = b.amount AND a.source_id <> b.source_id
        WHERE {close}
        """
    )
    con.execute(
        f"""
        INSERT INTO c_cand_ids
        WITH p AS (
            SELECT {cols} FROM c_r a JOIN c_r b ON a.txn_id = b.match_id AND a.amount = b.amount AND a.source_id <> b.source_id
            WHERE {close}
        )
        SELECT a, b, sa, sb, akey, bkey, gap, 1 FROM p
        UNION ALL
        SELECT b, a, sb, sa, bkey, akey, gap, 2 FROM p
        """
    )
    # A shared match_id alone is checked against the parties: their bases, for the
    # sightings whose match_id another sighting has (the accounts joins cost a second
    # at 1M sightings, and most match ids are seen once).
    con.execute(
        f"""
        INSERT INTO c_cand_ids
        WITH twice AS (SELECT match_id FROM c_r WHERE match_id IS NOT NULL GROUP BY match_id HAVING count(*) > 1),
        m AS (
            SELECT s.sid, s.source_id, s.ckey, s.ts, s.amount, s.match_id,
                   coalesce(a_p.person_id, n_p.person_id, a_p.norm) AS payer_base,
                   coalesce(a_q.person_id, n_q.person_id, a_q.norm) AS payee_base
            FROM (SELECT * FROM c_r SEMI JOIN twice USING (match_id)) s
            LEFT JOIN accounts a_p ON a_p.account = s.payer
            LEFT JOIN accounts n_p ON n_p.account = s.payer_name
            LEFT JOIN accounts a_q ON a_q.account = s.payee
            LEFT JOIN accounts n_q ON n_q.account = s.payee_name
        )
        SELECT {cols}, 3 FROM m a JOIN m b ON a.match_id = b.match_id AND a.amount = b.amount AND a.source_id <> b.source_id
        WHERE {close} AND {compatible}
        """
    )
    # each end's best in the other's file: the nearest in time, then the content key
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE c_pairs AS
        SELECT a, b FROM c_cand_ids
        QUALIFY row_number() OVER (PARTITION BY a, sb ORDER BY gap, bkey, via) = 1
            AND row_number() OVER (PARTITION BY b, sa ORDER BY gap, akey, via) = 1
        """
    )
    con.execute("DROP TABLE c_cand_ids")
    # Keep only pairs chosen from both ends (each end's best in the other's file).
    con.execute("DELETE FROM c_pairs p WHERE NOT EXISTS (SELECT 1 FROM c_pairs q WHERE q.a = p.b AND q.b = p.a)")
    _components(con, "c_pairs")


def _components(con, edges: str) -> None:
    """c_lab(n, l): the connected components of an edge table (a, b), labelled by their
    smallest sighting id (label propagation; components are small)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE c_lab AS SELECT a AS n, least(a, min(b)) AS l FROM {edges} GROUP BY a")
    for _ in range(64):
        changed = con.execute(
            f"""
            UPDATE c_lab SET l = m.l FROM (
                SELECT e.a AS n, min(x.l) AS l FROM {edges} e JOIN c_lab x ON x.n = e.b GROUP BY e.a
            ) m WHERE c_lab.n = m.n AND m.l < c_lab.l
            """
        ).fetchall()[0][0]
        if not changed:
            break


def _alias_links(con, scoped: bool = False) -> None:
    """Step 3: nicknames (a WeChat bill's parties) learned to be accounts (a Tenpay
    production's) from the shared-id groups that hold both. The evidence (group, alias,
    account) is kept in `alias_evidence`; a neighbourhood replaces the evidence of its
    own groups (a group lies wholly inside or outside it) and counts the links again
    over all of it. When that changes a link or its status, the new links are written
    and _Widen is raised: the accounts they change must be derived again."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE c_evidence AS
        WITH g AS (
            SELECT l.l AS comp, s.layout, s.payer, s.payee FROM c_lab l JOIN c_s s ON s.sid = l.n
        ),
        seen AS (
            SELECT w.comp, aw.norm AS alias, t.payer AS account
            FROM g w JOIN g t ON t.comp = w.comp AND t.layout = 0 AND w.layout = 2
            JOIN accounts aw ON aw.account = w.payer
            WHERE t.payer IS NOT NULL
            UNION
            SELECT w.comp, aw.norm, t.payee
            FROM g w JOIN g t ON t.comp = w.comp AND t.layout = 0 AND w.layout = 2
            JOIN accounts aw ON aw.account = w.payee
            WHERE t.payee IS NOT NULL
        )
        SELECT DISTINCT comp, alias, account FROM seen WHERE alias <> account
        """
    )
    evidence = "c_evidence"
    if scoped:
        evidence = """(SELECT comp, alias, account FROM alias_evidence WHERE comp NOT IN (SELECT sid FROM c_scope)
                       UNION ALL SELECT comp, alias, account FROM c_evidence)"""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE c_links AS
        SELECT alias, account, movements,
               CASE WHEN count(*) OVER (PARTITION BY alias) = 1 THEN 'used' ELSE 'ambiguous' END AS status
        FROM (SELECT alias, account, count(DISTINCT comp) AS movements FROM {evidence} GROUP BY alias, account)
        """
    )
    if scoped:
        differ = con.execute(
            """SELECT count(*) FROM (
                   (SELECT alias, account, status FROM c_links EXCEPT SELECT alias, account, status FROM alias_links)
                   UNION ALL
                   (SELECT alias, account, status FROM alias_links EXCEPT SELECT alias, account, status FROM c_links))"""
        ).fetchall()[0][0]
        if differ:
            _write_links(con)
            raise _Widen
        con.execute("DELETE FROM alias_evidence WHERE comp IN (SELECT sid FROM c_scope)")
    else:
        con.execute("DELETE FROM alias_evidence")
    con.execute("INSERT INTO alias_evidence SELECT comp, alias, account FROM c_evidence")
    _write_links(con)


def _write_links(con) -> None:
    con.execute("DELETE FROM alias_links")
    con.execute("INSERT INTO alias_links SELECT alias, account, movements, status FROM c_links ORDER BY alias, account")


_NAME_PAIRS = """
    SELECT payer AS account, payer_name AS name FROM {rows} WHERE payer IS NOT NULL AND payer_name IS NOT NULL
    UNION
    SELECT payee, payee_name FROM {rows} WHERE payee IS NOT NULL AND payee_name IS NOT NULL
"""


def _shown_names(con, seed: str | None) -> None:
    """Bring `shown_names` up to date: the pairs of the sightings `seed` selects added
    (the files just loaded), or, for a whole derivation, all of it again from the
    sightings (so that it is a function of them whatever happened before)."""
    if seed is None:
        con.execute("DELETE FROM shown_names")
        con.execute(f"INSERT INTO shown_names {_NAME_PAIRS.format(rows='sightings')}")
        return
    rows = f"(SELECT s.* FROM sightings s SEMI JOIN ({seed}) n ON n.sighting_id = s.sighting_id)"
    con.execute(f"INSERT INTO shown_names SELECT * FROM ({_NAME_PAIRS.format(rows=rows)}) EXCEPT SELECT account, name FROM shown_names")


def _person(con) -> None:
    """c_person: each account's person (the roster through the account, else through
    the one real name shown beside it anywhere in the case, as `shown_names` keeps
    them) and the key movements are matched on, through the alias links. Over the
    whole case, so that a neighbourhood resolves its accounts as a whole derivation
    would."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE c_person AS
        WITH named AS (SELECT account, person_id FROM accounts WHERE person_id IS NOT NULL),
        by_name AS (
            SELECT s.account, min(n.person_id) AS person_id FROM shown_names s JOIN named n ON n.account = s.name
            GROUP BY s.account HAVING count(DISTINCT n.person_id) = 1
        ),
        direct AS (
            SELECT a.account, a.norm, coalesce(a.person_id, b.person_id) AS person_id
            FROM accounts a LEFT JOIN by_name b USING (account)
        )
        -- through a used alias link, an account takes the person and key of the account it was seen as
        SELECT d.account, coalesce(d.person_id, t.person_id) AS person_id,
               coalesce(d.person_id, t.person_id, t.norm, d.norm) AS key
        FROM direct d
        LEFT JOIN alias_links k ON k.alias = d.norm AND k.status = 'used'
        LEFT JOIN direct t ON t.account = k.account
        """
    )


def _keys(con) -> None:
    """c_keys: each sighting's parties as persons and as matching keys (c_person), with
    the fields of c_s that pairing and writing read, so that those joins have one table
    of numbers to join, not two."""
    # The keys as numbers in the order of their texts (the same string, the same number;
    # min() picks as it did on the texts): the pairing's hash tables over every sighting
    # then hold two integers instead of two strings.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE c_kid AS
        SELECT v, row_number() OVER (ORDER BY v) AS kid
        FROM (SELECT person_id AS v FROM c_person WHERE person_id IS NOT NULL UNION SELECT key FROM c_person WHERE key IS NOT NULL)
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE c_pkey AS
        SELECT p.account, p.person_id, a.kid AS person_kid, b.kid AS key_kid
        FROM c_person p LEFT JOIN c_kid a ON a.v = p.person_id LEFT JOIN c_kid b ON b.v = p.key
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE c_keys AS
        SELECT s.sid, s.source_id, s.line, s.ckey, s.rank, s.srank, s.has, s.ts, s.amount, s.direction, s.is_total,
               coalesce(p.person_id, pn.person_id) AS payer_person, coalesce(q.person_id, qn.person_id) AS payee_person,
               coalesce(p.person_kid, pn.person_kid, p.key_kid) AS payer_key, coalesce(q.person_kid, qn.person_kid, q.key_kid) AS payee_key
        FROM c_s s
        LEFT JOIN c_pkey p ON p.account = s.payer
        LEFT JOIN c_pkey pn ON pn.account = s.payer_name
        LEFT JOIN c_pkey q ON q.account = s.payee
        LEFT JOIN c_pkey qn ON qn.account = s.payee_name
        """
    )
    con.execute("DROP TABLE c_kid")
    con.execute("DROP TABLE c_pkey")


def _parties_amount_time(con, one_file: bool = False) -> None:
    """Step 4: nodes (a sighting with its same-row repeats and shared-id partners) that
    are one movement seen in different files, by parties, amount and time (none when
    `one_file`)."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE c_node AS
        SELECT s.sid, coalesce(l.l, r.rep, s.sid) AS node, s.source_id, l.l AS comp, r.rep IS NOT NULL AS same_row
        FROM c_s s
        LEFT JOIN c_same r ON r.sid = s.sid
        LEFT JOIN c_lab l ON l.n = coalesce(r.rep, s.sid)
        """
    )
    if one_file:
        return
    _node_table(con, "true")
    # Round 1 over every node finds the candidates; later rounds only look at nodes that
    # had one (merging moves a node's time by at most MATCH_SECONDS).
    _candidates(con)
    for _ in range(ROUNDS):
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE c_merge AS
            WITH best AS (
                SELECT a, b FROM c_cand
                QUALIFY row_number() OVER (PARTITION BY a ORDER BY gap, bkey) = 1
            )
            SELECT x.a AS keep, x.b AS gone FROM best x JOIN best y ON y.a = x.b AND y.b = x.a WHERE x.a < x.b
            """
        )
        if not con.execute("SELECT count(*) FROM c_merge").fetchall()[0][0]:
            break
        con.execute("UPDATE c_node SET node = m.keep FROM c_merge m WHERE c_node.node = m.gone")
        _node_table(con, "node IN (SELECT a FROM c_cand UNION SELECT b FROM c_cand)")
        _candidates(con)


def _node_table(con, where: str) -> None:
    """c_nodes: each node's time (its earliest), amount, parties and content key (its
    files are its rows in c_node). Most nodes are one sighting: those are taken as they
    are, only the others grouped."""
    # No list of a node's files here: list states do not spill, and at 10M sightings
    # they did not fit in the memory limit.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE c_nodes AS
        WITH members AS (SELECT node FROM c_node WHERE {where} GROUP BY node HAVING count(*) > 1)
        SELECT n.node, min(k.ts) AS ts, min(k.amount) AS amount, min(k.payer_key) AS payer_key,
               min(k.payee_key) AS payee_key, min(k.ckey) AS nkey, bool_and(k.is_total) AS is_total
        FROM c_node n SEMI JOIN members m ON m.node = n.node JOIN c_keys k USING (sid)
        GROUP BY n.node
        UNION ALL
        SELECT n.node, k.ts, k.amount, k.payer_key, k.payee_key, k.ckey, k.is_total
        FROM c_node n ANTI JOIN members m ON m.node = n.node JOIN c_keys k USING (sid)
        WHERE {where}
        """
    )


def _candidates(con) -> None:
    """c_cand: pairs of nodes (of c_nodes) that may be one movement: same parties and
    amount, times within MATCH_SECONDS, seen in no common file. Joined on time buckets of
    MATCH_SECONDS (each node in its own and the two next to it) so that a pair of busy
    parties costs pairs close in time, not all pairs."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE c_cand AS
        WITH n0 AS (
            SELECT *, CAST(floor(epoch(ts) / {MATCH_SECONDS}) AS BIGINT) AS bucket FROM c_nodes
            WHERE payer_key IS NOT NULL AND payee_key IS NOT NULL AND NOT is_total
        ),
        -- only where two files show the same parties and amount close in time: a file's
        -- own thousand alike rows never pair among themselves, and must not cost pairs
        src AS (SELECT n0.payer_key, n0.payee_key, n0.amount, n0.bucket, f.source_id FROM n0 JOIN c_node f USING (node)),
        near AS (SELECT payer_key, payee_key, amount, unnest([bucket - 1, bucket, bucket + 1]) AS bucket, source_id FROM src),
        busy AS (SELECT payer_key, payee_key, amount, bucket FROM near GROUP BY ALL HAVING min(source_id) <> max(source_id)),
        n AS (SELECT n0.* FROM n0 SEMI JOIN busy USING (payer_key, payee_key, amount, bucket)),
        spread AS (SELECT *, unnest([bucket - 1, bucket, bucket + 1]) AS near FROM n)
        SELECT a.node AS a, b.node AS b, abs(epoch(a.ts) - epoch(b.ts)) AS gap, b.nkey AS bkey
        FROM n a JOIN spread b
          ON b.near = a.bucket AND a.payer_key = b.payer_key AND a.payee_key = b.payee_key AND a.amount = b.amount
        WHERE a.node <> b.node AND abs(epoch(a.ts) - epoch(b.ts)) <= {MATCH_SECONDS}
        """
    )
    # Nodes seen in a common file are two movements (a file never shows one twice). Apart
    # from the pairing, over the few nodes that have a candidate.
    con.execute(
        """
        DELETE FROM c_cand WHERE (a, b) IN (
            WITH ends AS (
                SELECT f.node, f.source_id FROM c_node f
                SEMI JOIN (SELECT a AS node FROM c_cand UNION SELECT b FROM c_cand) e USING (node)
            )
            SELECT (p.a, p.b) FROM c_cand p JOIN ends x ON x.node = p.a JOIN ends y ON y.node = p.b AND y.source_id = x.source_id
        )
        """
    )


def _packets(con) -> None:
    """Step 5: each node's group red packet, and what a packet's total row stands for."""
    # A packet is known under the sender's bill's 商户单号 and under the Tenpay rows'
    # 交易单号; the bill's total row carries both (交易单号 and packet_id).
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE c_pk AS
        WITH same AS (
            SELECT DISTINCT txn_id AS other, packet_id AS pk FROM c_s
            WHERE is_total AND txn_id IS NOT NULL AND packet_id IS NOT NULL AND txn_id <> packet_id
        ),
        canon AS (SELECT other, min(pk) AS pk FROM same GROUP BY other),
        named AS (
            SELECT s.sid, coalesce(c.pk, s.packet_id) AS pk FROM c_s s LEFT JOIN canon c ON c.other = s.packet_id
            WHERE s.packet_id IS NOT NULL
        ),
        known AS (SELECT DISTINCT pk FROM named),
        -- a grabber's bill shows a share as a plain red packet whose shared id is the packet's
        grabbed AS (
            SELECT s.sid, s.match_id AS pk FROM c_s s SEMI JOIN known k ON k.pk = s.match_id
            WHERE s.packet_id IS NULL AND s.kind IN ('red_packet', 'group_red_packet')
        )
        SELECT n.node, min(a.pk) AS pk
        FROM (SELECT * FROM named UNION ALL SELECT * FROM grabbed) a JOIN c_node n USING (sid)
        GROUP BY n.node
        """
    )
    # Total nodes of packets with shares: the part of the total no share accounts for.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE c_total AS
        WITH nodes AS (
            SELECT n.node, p.pk, bool_and(s.is_total) AS is_total, min(s.amount) AS amount
            FROM c_node n JOIN c_keys s USING (sid) JOIN c_pk p USING (node) GROUP BY n.node, p.pk
        ),
        shares AS (SELECT pk, sum(amount) AS shares, min(node) AS first_share FROM nodes WHERE NOT is_total GROUP BY pk)
        SELECT t.node, t.pk, t.amount AS total, sh.shares, t.amount - sh.shares AS rest, sh.first_share
        FROM nodes t JOIN shares sh USING (pk) WHERE t.is_total
        """
    )


def _write(con, scoped: bool = False) -> None:
    """Rebuild sighting_movements and movement_rows (the `transactions` view) from the nodes."""
    # A total whose shares account for all of it is a sighting of the packet's first share.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE c_mv AS
        SELECT n.sid, coalesce(t.first_share, n.node) AS node,
               CASE WHEN t.first_share IS NOT NULL THEN 'group packet total' END AS via_total, n.comp, n.same_row
        FROM c_node n LEFT JOIN c_total t ON t.node = n.node AND t.rest <= 0
        """
    )
    # movement id: the smallest sighting id of the node's own sightings (not of a
    # packet's total row that joined it)
    if scoped:
        con.execute("""CREATE OR REPLACE TEMP TABLE c_old AS SELECT DISTINCT movement_id FROM sighting_movements
                       WHERE sighting_id IN (SELECT sid FROM c_s)""")
        con.execute("DELETE FROM sighting_movements WHERE sighting_id IN (SELECT sid FROM c_s)")
    else:
        con.execute("DELETE FROM sighting_movements")
    con.execute(
        """
        INSERT INTO sighting_movements
        WITH ids AS (
            SELECT node, min(sid) FILTER (WHERE via_total IS NULL) AS movement_id,
                   arg_min_null(comp, sid) FILTER (WHERE via_total IS NULL) AS first_comp
            FROM c_mv GROUP BY node
        )
        SELECT m.sid, i.movement_id,
               CASE WHEN m.sid = i.movement_id THEN 'first'
                    WHEN m.via_total IS NOT NULL THEN m.via_total
                    WHEN m.same_row THEN 'same row'
                    WHEN m.comp IS NOT NULL AND m.comp = i.first_comp THEN 'shared id'
                    ELSE 'parties+amount+time' END
        FROM c_mv m JOIN ids i USING (node)
        """
    )
    # Most movements have one sighting: their fields are that sighting's, read straight
    # from `sightings`. The others take each field from the sighting that speaks for
    # them (_LAYOUT_RANK, _VIEW_RANK, then the content key), a field it leaves empty
    # from the next that has it; the status by _STATUS_RANK.
    # One orderable key per sighting: its rank in the high bits, the content key below.
    pref = "s.rank::HUGEINT * 18446744073709551616 + s.ckey"
    status_pref = f"s.srank::HUGEINT * 18446744073709551616 * 100 + {pref}"

    # Which sighting gives each field, as sighting ids: fixed-size aggregate states,
    # which DuckDB can spill (arg_min over the texts themselves ran out of memory at 1M
    # movements under the 512 MB limit). Per movement only its primary sighting is
    # picked here, with which fields any of its sightings fill (bit_or) and the best
    # status rank: one arg_min state per group, not eleven (those ran out at 10M).
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE c_over AS
        SELECT min(s.sid) AS movement_id, n.node, arg_min(s.sid, {pref}) AS primary_sid,
               bit_or(s.has) AS any_has, min(s.srank) AS best_srank,
               bool_or(s.direction IN ('out', 'neutral', 'both')) AS seen_by_payer,
               bool_or(s.direction IN ('in', 'both')) AS seen_by_payee,
               min(s.payer_person) AS payer_person, min(s.payee_person) AS payee_person,
               arg_min(s.source_id, s.sid) AS source_id, arg_min(s.line, s.sid) AS line
        FROM c_mv n JOIN c_keys s USING (sid)
        WHERE n.via_total IS NULL
        GROUP BY n.node HAVING count(*) > 1
        """
    )
    # Where the primary fills every field that any sighting fills and has the best
    # status rank, it gives every field and the status (it is first in each ordering).
    # The few other movements pick each field's sighting apart.
    picks = ", ".join(f"arg_min(s.sid, {pref}) FILTER (WHERE s.has & {1 << i} <> 0) AS {c}_sid" for i, c in enumerate(_FILLED))
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE c_pick AS
        WITH odd AS (
            SELECT o.node, o.movement_id, o.primary_sid FROM c_over o JOIN c_keys k ON k.sid = o.primary_sid
            WHERE o.any_has <> k.has OR o.best_srank < k.srank
        )
        SELECT any_value(o.movement_id) AS movement_id, any_value(o.primary_sid) AS primary_sid, {picks},
               arg_min(s.sid, {status_pref}) AS status_sid
        FROM odd o JOIN c_mv n ON n.node = o.node JOIN c_keys s ON s.sid = n.sid
        WHERE n.via_total IS NULL
        GROUP BY o.node
        """
    )
    # The primary sighting gives every field it has; the few movements where another
    # sighting fills one it lacks, or says what finally happened (the status), are
    # looked up apart, so that the big join is one.
    # c_fill(movement_id, field, value): one row per field taken from another sighting
    # than the primary (fields numbered as in _FILLED, then status and raw_status), read
    # from `sightings` in one join (a join per field each held a table of every sighting).
    fields = [*_FILLED, "status", "raw_status"]
    sids = [f"{c}_sid" for c in _FILLED] + ["status_sid", "status_sid"]
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE c_fill AS
        WITH picks AS (
            SELECT movement_id, primary_sid, unnest(range({len(fields)})) AS field, unnest([{', '.join(sids)}]) AS sid
            FROM c_pick WHERE {' OR '.join(f"{c} <> primary_sid" for c in sids)}
        )
        SELECT p.movement_id, CAST(p.field AS UTINYINT) AS field,
               CASE p.field {' '.join(f"WHEN {i} THEN s.{c}" for i, c in enumerate(fields))} END AS value
        FROM picks p JOIN sightings s ON s.sighting_id = p.sid
        WHERE p.sid <> p.primary_sid
        """
    )
    # one row per movement that takes a field from another sighting
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE c_fillrow AS
        SELECT movement_id, {', '.join(f"max(value) FILTER (WHERE field = {i}) AS {c}" for i, c in enumerate(fields))}
        FROM c_fill GROUP BY movement_id
        """
    )
    fill = {c: f"x.{c}" for c in fields}
    if scoped:
        con.execute("DELETE FROM movement_rows WHERE id IN (SELECT movement_id FROM c_old)")
    else:
        con.execute("DELETE FROM movement_rows")
    packet = """
        LEFT JOIN c_pk pk ON pk.node = m.node
        LEFT JOIN c_total t ON t.node = m.node
    """
    # Single-sighting movements: their sighting, node and persons first (one join at a
    # time), then their fields from `sightings` in one join: several joins of millions
    # of rows in one statement ran out of memory at 10M sightings.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE c_single AS
        SELECT m.sid, m.node, k.payer_person, k.payee_person
        FROM (SELECT min(sid) AS sid, node FROM c_mv WHERE via_total IS NULL GROUP BY node HAVING count(*) = 1) m
        JOIN c_keys k USING (sid)
        """
    )
    con.execute(
        f"""
        INSERT INTO movement_rows
        SELECT s.sighting_id, s.txn_id, s.match_id, pk.pk, s.ts, s.payer, s.payee, s.payer_name, s.payee_name,
               CASE WHEN t.rest > 0 THEN t.rest ELSE s.amount END,
               CASE WHEN pk.pk IS NOT NULL THEN 'group_red_packet' ELSE s.kind END,
               s.status, s.channel, s.memo, s.raw_type, s.raw_status, s.refund_ref, NULL,
               s.direction IN ('out', 'neutral', 'both'), s.direction IN ('in', 'both'),
               s.source_id, s.line, m.payer_person, m.payee_person
        FROM (SELECT {_FIELDS} FROM sightings) s JOIN c_single m ON m.sid = s.sighting_id
        {packet}
        """
    )
    # the primary sighting's fields, one join; then the fills and packets, one join each
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE c_primary AS
        SELECT m.movement_id, m.node, coalesce(k.status_sid = m.primary_sid, true) AS own_status, m.seen_by_payer, m.seen_by_payee,
               m.source_id AS first_source_id, m.line AS first_line, m.payer_person, m.payee_person,
               p.* EXCLUDE (sighting_id, source_id, line)
        FROM (SELECT {_FIELDS} FROM sightings) p JOIN c_over m ON m.primary_sid = p.sighting_id
        LEFT JOIN c_pick k ON k.movement_id = m.movement_id
        """
    )
    con.execute(
        f"""
        INSERT INTO movement_rows
        SELECT m.movement_id, m.txn_id, coalesce(m.match_id, {fill['match_id']}), pk.pk, m.ts, coalesce(m.payer, {fill['payer']}),
               coalesce(m.payee, {fill['payee']}), coalesce(m.payer_name, {fill['payer_name']}), coalesce(m.payee_name, {fill['payee_name']}),
               CASE WHEN t.rest > 0 THEN t.rest ELSE m.amount END,
               CASE WHEN pk.pk IS NOT NULL THEN 'group_red_packet' ELSE m.kind END,
               CASE WHEN m.own_status THEN m.status ELSE {fill['status']} END, m.channel,
               coalesce(m.memo, {fill['memo']}), m.raw_type,
               -- the status text of the sighting whose status was taken (not of the primary)
               CASE WHEN m.own_status THEN m.raw_status ELSE {fill['raw_status']} END,
               coalesce(m.refund_ref, {fill['refund_ref']}), NULL,
               m.seen_by_payer, m.seen_by_payee, m.first_source_id, m.first_line, m.payer_person, m.payee_person
        FROM c_primary m LEFT JOIN c_fillrow x ON x.movement_id = m.movement_id
        {packet}
        """
    )
    if scoped:
        con.execute("DELETE FROM match_notes WHERE movement_id IN (SELECT movement_id FROM c_old)")
    else:
        con.execute("DELETE FROM match_notes")
    con.execute(
        """
        INSERT INTO match_notes
        SELECT l.movement_id, 'group packet total ' || t.total || ' yuan; shares seen ' || t.shares ||
               CASE WHEN t.rest > 0 THEN ' yuan; the remaining ' || t.rest || ' yuan (unclaimed, or grabbed by accounts whose exports are not in the case) is this movement'
                    WHEN t.rest < 0 THEN ' yuan: the shares exceed the total'
                    ELSE ' yuan: the total is counted as its shares' END
        FROM c_total t JOIN c_mv m ON m.node = t.node JOIN sighting_movements l ON l.sighting_id = m.sid
        GROUP BY l.movement_id, t.total, t.shares, t.rest
        """
    )


def _refunds(con, scoped: bool = False) -> None:
    """Step 6: refund → original, by the id the refund names (any sighting's id of the
    original counts), else the nearest earlier movement going the other way."""
    # In a neighbourhood: its refunds only (the originals they may name are in it too).
    mine = "AND id IN (SELECT movement_id FROM sighting_movements WHERE sighting_id IN (SELECT sid FROM c_s))" if scoped else ""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE c_refund AS
        -- the ids refunds name, then the sightings that carry one (not every sighting's ids)
        WITH refs AS (SELECT DISTINCT refund_ref AS ref FROM movement_rows WHERE kind = 'refund' AND refund_ref IS NOT NULL {mine}),
        ids AS (
            SELECT l.movement_id, unnest([s.txn_id, s.match_id, s.packet_id]) AS ref
            FROM ({_sightings_where_any(("txn_id", "match_id", "packet_id"), "refs", "ref", "sighting_id, txn_id, match_id, packet_id")}) s
            JOIN sighting_movements l USING (sighting_id)
            {"WHERE l.sighting_id IN (SELECT sid FROM c_s)" if scoped else ""}
        ),
        named AS (
            SELECT r.id AS rid, o.id, o.ts, o.payee, o.txn_id, o.amount, count(*) OVER (PARTITION BY r.id) AS candidates
            FROM movement_rows r
            JOIN (SELECT DISTINCT movement_id, ref FROM ids WHERE ref IN (SELECT ref FROM refs)) i ON i.ref = r.refund_ref
            JOIN movement_rows o ON o.id = i.movement_id AND o.kind <> 'refund'
            WHERE r.kind = 'refund' {mine.replace('AND id', 'AND r.id')}
        )
        -- a group packet's refund gives back its unclaimed rest (the movement without a payee)
        SELECT rid, id, candidates, 'id' AS how FROM named
        QUALIFY row_number() OVER (PARTITION BY rid ORDER BY payee IS NULL DESC, ts DESC, txn_id, payee, amount) = 1
        """
    )
    con.execute(
        f"""
        INSERT INTO c_refund
        WITH r AS (SELECT * FROM movement_rows WHERE kind = 'refund' AND id NOT IN (SELECT rid FROM c_refund) {mine}),
        cand AS (
            SELECT r.id AS rid, o.id, o.ts, o.txn_id, o.payee, o.amount, count(*) OVER (PARTITION BY r.id) AS candidates
            FROM r JOIN movement_rows o
              ON coalesce(o.payer_person, o.payer) = coalesce(r.payee_person, r.payee) AND o.kind <> 'refund'
             AND o.amount >= r.amount AND o.ts <= r.ts AND o.ts >= r.ts - INTERVAL {REFUND_DAYS} DAY
            WHERE o.payee IS NULL OR r.payer IS NULL OR coalesce(o.payee_person, o.payee) = coalesce(r.payer_person, r.payer)
               OR o.status IN ('refunded', 'partly_refunded', 'returned')
        )
        SELECT rid, id, candidates, 'nearest' FROM cand
        QUALIFY row_number() OVER (PARTITION BY rid ORDER BY ts DESC, txn_id, payee, amount) = 1
        """
    )
    con.execute("UPDATE movement_rows t SET refund_of = c.id FROM c_refund c WHERE t.id = c.rid")
    con.execute(
        """
        INSERT INTO match_notes
        SELECT rid, 'refund of movement ' || id || ', the latest of ' || candidates || ' candidates (' ||
               CASE how WHEN 'id' THEN 'by the id the refund names' ELSE 'by parties and amount within the refund window' END || ')'
        FROM c_refund WHERE candidates > 1
        """
    )


def _source_counts(con, scoped: bool = False) -> None:
    """rows_loaded: the file's sightings that are a movement's first; rows_duplicate:
    the others (sightings of movements another file, or another line, showed)."""
    con.execute(
        f"""
        UPDATE sources SET rows_loaded = c.first, rows_duplicate = c.other
        FROM (
            SELECT s.source_id, count(*) FILTER (WHERE l.matched_on = 'first') AS first,
                   count(*) FILTER (WHERE l.matched_on <> 'first') AS other
            FROM sightings s JOIN sighting_movements l USING (sighting_id)
            {"WHERE s.source_id IN (SELECT DISTINCT source_id FROM c_s)" if scoped else ""}
            GROUP BY s.source_id
        ) c
        WHERE sources.source_id = c.source_id
          AND (sources.rows_loaded <> c.first OR sources.rows_duplicate <> c.other)
        """
    )


def derive_movements(con: duckdb.DuckDBPyConnection, new_sources: list[int] | None = None) -> None:
    """Bring the movements up to date with the sightings and the roster, outside any
    transaction (see _derive_marked): around the files just loaded (`new_sources`),
    else the whole case."""
    pause_point("ingest.before_consolidate")
    _derive_marked(con, _sources_seed(new_sources))


def derive_after_roster(con: duckdb.DuckDBPyConnection) -> None:
    """Bring the movements up to date after a roster load (committed) resolved the
    accounts anew: only the movements of accounts that now resolve otherwise (directly,
    through the real name shown beside them, or through an alias link) and their
    neighbourhood are derived again; a roster that resolves every account as before
    changes nothing. After an ingest stopped before its derivation, the whole case is
    derived."""
    _derive_marked(con, None if is_stale(con) else "SELECT sighting_id FROM sightings WHERE false")


def _derive_marked(con, seed: str | None) -> None:
    """Derive outside a transaction, each statement committing by itself: inside one,
    DuckDB keeps every dropped or replaced temporary table until the commit, and the
    derivation ran a third slower (10–11 s against 15.5 s at 1M sightings) and out of
    memory at 10M. The case is marked 'deriving' first and 'yes' last, so that a
    derivation killed or failed half-way is known (rpa status), refused by the commands
    that read movements, and done again whole by the next ingest, roster load or scan."""
    from analyzer.db import transaction

    if seed is not None and is_interrupted(con):
        seed = None
    with transaction(con):
        con.execute("INSERT OR REPLACE INTO meta VALUES ('consolidated', 'deriving')")
    _consolidate(con, seed)
    con.execute("INSERT OR REPLACE INTO meta VALUES ('consolidated', 'yes')")
