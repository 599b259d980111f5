"""Benchmark: `rpa scan` (all rules) over N movements.

    python benchmarks/scan.py --rows 1000000 --rows 10000000

Builds, per size, a case whose tables are filled by DuckDB directly (the benchmark is
about the rules, not ingest): PEOPLE persons (a tenth officials, a third Party members,
in 200 org units), subordinate / service-object / family / colleague relations, an
election and a promotion window, and N movements among them over two years (packets,
group packets, transfers, shop payments) with festival peaks. Then times `rpa scan`
in a fresh process and reports wall time and peak memory (max RSS of the child).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

PEOPLE = 50_000

SETTINGS = """
[[windows]]
name = "2026 换届"
kind = "election"
start = 2026-01-05
end = 2026-03-31
org_unit = "unit7"

[[windows]]
name = "2025 干部调整"
kind = "promotion"
start = 2025-06-01
end = 2025-08-31

[[events]]
person_id = "P00000042"
kind = "wedding"
date = 2025-10-01
"""


def build(case: Path, rows: int) -> None:
    """Fill a fresh case with a synthetic population and `rows` movements.

    Ordinary life dominates, as in a real case: households of five (declared family)
    send each other most packets, friends (undeclared, ids nearby) some, people pay
    shops, colleagues settle AA bills; festival seasons carry two fifths of it all. A
    small share are gifts from subordinates and service objects to their official."""
    subprocess.run([shutil.which("rpa") or "rpa", "init", str(case)], check=True, stdout=subprocess.DEVNULL)
    (case / "rpa.toml").write_text(SETTINGS, encoding="utf-8")
    con = duckdb.connect(str(case / "rpa.duckdb"))
    con.execute("SET enable_progress_bar = false")
    con.execute(
        f"""
        INSERT INTO persons
        SELECT 'P' || lpad(CAST(i AS VARCHAR), 8, '0'), 'name' || i, i % 3 = 0, i % 10 = 0,
               'unit' || CAST(i // 250 AS VARCHAR), NULL, CAST(i % 5 AS INTEGER), NULL
        FROM range({PEOPLE}) r(i)
        """
    )
    con.execute("INSERT INTO person_accounts SELECT person_id, 'wx_' || person_id, 'wx_' || person_id FROM persons")
    con.execute("INSERT INTO accounts SELECT alias, norm, person_id FROM person_accounts")
    # households of five: every pair is family
    con.execute(
        f"""
        INSERT INTO relations
        SELECT 'P' || lpad(CAST(a AS VARCHAR), 8, '0'), 'P' || lpad(CAST(b AS VARCHAR), 8, '0'), 'family', NULL
        FROM range({PEOPLE}) x(a), range(5) y(k), (SELECT (a // 5) * 5 + k AS b) z
        WHERE b > a
        """
    )
    # each official (i % 10 = 0) has 5 subordinates and 5 service objects elsewhere in the population
    con.execute(
        f"""
        INSERT INTO relations
        SELECT 'P' || lpad(CAST((o * 7 + k * 131 + 17) % {PEOPLE} AS VARCHAR), 8, '0'), 'P' || lpad(CAST(o AS VARCHAR), 8, '0'),
               CASE WHEN k < 5 THEN 'subordinate' ELSE 'service_object' END, NULL
        FROM range(0, {PEOPLE}, 10) a(o), range(10) b(k)
        """
    )
    con.execute(
        f"""
        INSERT INTO movement_rows
        WITH base AS (
            SELECT i, CAST(hash(i * 11) % {PEOPLE} AS BIGINT) AS p, CAST(hash(i * 13) % 100 AS INTEGER) AS mix,
                   CAST(hash(i * 17) % 100 AS INTEGER) AS season
            FROM range({rows}) r(i)
        ),
        shaped AS (
            SELECT i, mix,
                   CASE WHEN mix < 98 THEN p ELSE (p * 7 + (i % 10) * 131 + 17) % {PEOPLE} END AS payer_i,
                   CASE WHEN mix < 55 THEN (p // 5) * 5 + (p + 1 + i % 4) % 5                       -- household
                        WHEN mix < 85 THEN (p + 6 + hash(i * 3) % 45) % {PEOPLE}                     -- friends
                        WHEN mix < 93 THEN -1                                                        -- shops
                        WHEN mix < 98 THEN (p // 250) * 250 + hash(i * 5) % 250                       -- colleagues, AA
                        ELSE (p // 10) * 10 END AS payee_i,                                          -- official
                   CASE WHEN season < 40 THEN
                            CASE WHEN i % 2 = 0 THEN TIMESTAMP '2025-01-20 08:00:00' ELSE TIMESTAMP '2025-09-15 08:00:00' END
                            + to_seconds(CAST(hash(i * 19) % (36 * 86400) AS BIGINT)) + INTERVAL 365 DAY * (i % 2)
                        ELSE TIMESTAMP '2025-01-01 00:00:00' + to_seconds(CAST(hash(i) % 63072000 AS BIGINT)) END AS ts
            FROM base
        )
        SELECT i + 1, 'T' || i, NULL, CASE WHEN mix < 55 AND i % 9 = 0 THEN 'G' || (i // 3) END, ts,
               'wx_P' || lpad(CAST(payer_i AS VARCHAR), 8, '0'),
               CASE WHEN payee_i < 0 THEN 'shop' || (i % 500) ELSE 'wx_P' || lpad(CAST(payee_i AS VARCHAR), 8, '0') END,
               NULL, NULL,
               CASE WHEN mix BETWEEN 93 AND 97 THEN CAST(10 + hash(i * 23) % 9000 / 100.0 AS DECIMAL(18,2))
                    ELSE CAST([6.66, 8.88, 66, 88, 168, 200, 520, 12.5, 35, 1000][1 + CAST(hash(i * 5) % 10 AS INTEGER)] AS DECIMAL(18,2)) END,
               CASE WHEN payee_i < 0 THEN 'merchant' WHEN mix BETWEEN 93 AND 97 THEN 'transfer'
                    WHEN mix < 55 AND i % 9 = 0 THEN 'group_red_packet' WHEN i % 3 = 0 THEN 'transfer' ELSE 'red_packet' END,
               CASE WHEN i % 50 = 0 THEN 'refunded' ELSE 'success' END, 'wechat',
               CASE WHEN mix BETWEEN 93 AND 97 THEN 'AA' END, NULL, NULL, NULL, NULL,
               true, true, 1, i + 2,
               'P' || lpad(CAST(payer_i AS VARCHAR), 8, '0'),
               CASE WHEN payee_i >= 0 THEN 'P' || lpad(CAST(payee_i AS VARCHAR), 8, '0') END
        FROM shaped
        WHERE payer_i <> payee_i
        """
    )
    con.execute("INSERT INTO accounts SELECT DISTINCT payee, payee, NULL FROM transactions WHERE payee LIKE 'shop%'")
    n = con.execute("SELECT count(*) FROM transactions").fetchall()[0][0]
    con.execute(
        "INSERT INTO sources VALUES (1, 'synthetic', 'synthetic', repeat('0', 64), 0, 'benchmark', NULL, NULL, NULL, NULL, NULL, ?, ?, 0, 0, NULL, NULL, now()::TIMESTAMP, 'bench')",
        [n, n],
    )
    con.close()


def timed(cmd: list[str]) -> tuple[float, float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return seconds, peak, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, action="append", help="movements (repeatable); default 1M")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # runner process: time one scan, so ru_maxrss is this scan's alone
        seconds, peak, output = timed([shutil.which("rpa") or "rpa", "scan", "--case", args.one])
        findings = output.strip().splitlines()[-1]
        print(f"{seconds:.1f}\t{peak:.0f}\t{findings}")
        return
    for rows in args.rows or [1_000_000]:
        with tempfile.TemporaryDirectory() as tmp:
            case = Path(tmp) / "case"
            t0 = time.perf_counter()
            build(case, rows)
            built = time.perf_counter() - t0
            out = subprocess.run([sys.executable, __file__, "--one", str(case)], check=True, capture_output=True, text=True).stdout
            seconds, peak, findings = out.strip().split("\t")
            print(f"{rows:>11,} movements (built in {built:.0f} s): rpa scan {seconds} s, peak {peak} MiB — {findings}")


if __name__ == "__main__":
    main()
