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
    """Fill a fresh case with a synthetic population and `rows` movements."""
    subprocess.run([shutil.which("rpa") or "rpa", "init", str(case)], check=True, stdout=subprocess.DEVNULL)
    (case / "rpa.toml").write_text(SETTINGS, encoding="utf-8")
    con = duckdb.connect(str(case / "rpa.duckdb"))
    con.execute(
        f"""
        INSERT INTO persons
        SELECT 'P' || lpad(CAST(i AS VARCHAR), 8, '0'), 'name' || i, i % 3 = 0, i % 10 = 0,
               'unit' || CAST(i % 200 AS VARCHAR), NULL, CAST(i % 5 AS INTEGER), NULL
        FROM range({PEOPLE}) r(i)
        """
    )
    con.execute("INSERT INTO person_accounts SELECT person_id, 'wx_' || person_id, 'wx_' || person_id FROM persons")
    con.execute("INSERT INTO accounts SELECT alias, norm, person_id FROM person_accounts")
    # each official (i % 10 = 0) has 5 subordinates, 5 service objects, 2 family members, 3 colleagues
    con.execute(
        f"""
        INSERT INTO relations
        SELECT 'P' || lpad(CAST((o + k * 7 + 1) % {PEOPLE} AS VARCHAR), 8, '0'), 'P' || lpad(CAST(o AS VARCHAR), 8, '0'),
               CASE WHEN k < 5 THEN 'subordinate' WHEN k < 10 THEN 'service_object' WHEN k < 12 THEN 'family' ELSE 'colleague' END,
               NULL
        FROM range(0, {PEOPLE}, 10) a(o), range(15) b(k)
        """
    )
    # movements: mostly among neighbours in the population (social graph), some to
    # officials from their relations, a few shop payments; timestamps over two years
    # with festival peaks (late January/February, late September).
    con.execute(
        f"""
        INSERT INTO transactions
        SELECT i + 1 AS id, 'T' || i, NULL, CASE WHEN i % 17 = 0 THEN 'G' || (i // 5) END,
               TIMESTAMP '2025-01-01 00:00:00'
                 + to_seconds(CAST(CASE WHEN i % 4 = 0 THEN (hash(i) % 40) * 86400 + 2160000 + hash(i * 7) % 86400
                                        ELSE hash(i) % 63072000 END AS BIGINT)),
               'wx_P' || lpad(CAST(p AS VARCHAR), 8, '0'),
               CASE WHEN i % 23 = 0 THEN 'shop' || (i % 500)
                    ELSE 'wx_P' || lpad(CAST((p + 1 + hash(i * 3) % 40) % {PEOPLE} AS VARCHAR), 8, '0') END,
               NULL, NULL,
               CAST([6.66, 8.88, 66, 88, 168, 200, 520, 12.5, 35, 1000][1 + CAST(hash(i * 5) % 10 AS INTEGER)] AS DECIMAL(18,2)),
               CASE WHEN i % 23 = 0 THEN 'merchant' WHEN i % 17 = 0 THEN 'group_red_packet' WHEN i % 3 = 0 THEN 'transfer' ELSE 'red_packet' END,
               CASE WHEN i % 50 = 0 THEN 'refunded' ELSE 'success' END, 'wechat', NULL, NULL, NULL, NULL, NULL,
               true, true, 1, i + 2, NULL
        FROM (SELECT i, CAST(hash(i * 11) % {PEOPLE} AS BIGINT) AS p FROM range({rows}) r(i))
        """
    )
    con.execute("INSERT INTO accounts SELECT DISTINCT payee, payee, NULL FROM transactions WHERE payee LIKE 'shop%'")
    con.execute(
        "INSERT INTO sources VALUES (1, 'synthetic', 'synthetic', repeat('0', 64), 0, 'benchmark', NULL, NULL, NULL, NULL, NULL, ?, ?, 0, 0, NULL, NULL, now()::TIMESTAMP, 'bench')",
        [rows, rows],
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
