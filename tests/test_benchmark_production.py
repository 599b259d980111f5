"""benchmarks/production.py: every step measured in one small run, DuckDB's baseline
reading exactly the data lines of the world's Tenpay files, typed, into one table."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import duckdb

from tests.conftest import ROOT

STEPS = {"ingest", "roster", "scan", "bill", "roster_reload"}


def tenpay_truth(world) -> tuple[int, int, int]:
    """(files, data lines, sum of 交易金额(分)) of the TenpayTrades files, read here
    independently of the benchmark (the top folder's name is GBK bytes)."""
    files = lines = fen = 0
    for folder, _, names in os.walk(os.fsencode(world)):
        for name in names:
            if name.startswith(b"TenpayTrades") and name.endswith(b".txt"):
                files += 1
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    header, *rows = f.read().splitlines()
                amount = header.split("\t").index("交易金额(分)")
                lines += len(rows)
                fen += sum(int(row.split("\t")[amount]) for row in rows)
    return files, lines, fen


def test_production_benchmark_measures_every_step_against_duckdbs_read(tmp_path):
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "production.py"), "--run", "3000:tenpay", "--worlds", str(tmp_path / "worlds"),
         "--work", str(tmp_path / "work"), "--keep", "--json", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = json.loads(out.read_text(encoding="utf-8"))["runs"]
    assert (run["movements"], run["format"]) == (3000, "tenpay")

    world = run["world"]["path"]
    files, lines, fen = tenpay_truth(world)
    assert files > 1 and lines > files
    assert (run["world"]["tenpay_files"], run["world"]["tenpay_rows"]) == (files, lines)
    base = run["baseline"]
    assert (base["files"], base["rows"]) == (files, lines)
    assert base["seconds"] > 0 and base["cpu_seconds"] > 0 and base["peak_mib"] > 0 and base["exit"] == 0

    # the baseline's table: every data line, times and amounts typed
    con = duckdb.connect(os.path.join(run["work"], "duckdb", "baseline.duckdb"), read_only=True)
    types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 't'").fetchall())
    assert (types["交易时间"], types["交易金额(分)"], types["对手方接收金额(分)"], types["用户ID"]) == ("TIMESTAMP", "BIGINT", "BIGINT", "VARCHAR")
    assert len(types) == 27  # the repeated names (网联/银联, 第三方账户名称) kept apart
    assert con.execute('SELECT count(*), sum("交易金额(分)"), count("交易时间") FROM t').fetchone() == (lines, fen, lines)
    con.close()

    (order,) = run["orders"]
    assert order["order"] == "roster-last"
    assert set(order["steps"]) == STEPS
    for name, step in order["steps"].items():
        assert step["seconds"] > 0 and step["cpu_seconds"] > 0 and step["peak_mib"] > 0 and step["exit"] == 0, name
    assert order["total"]["seconds"] == round(sum(order["steps"][s]["seconds"] for s in ("ingest", "roster", "scan")), 3)

    case = order["case"]
    assert case["movements"] > 0 and case["files"] == files and case["rows_read"] == lines and case["rows_rejected"] == 0
    assert order["bill"]["rows_read"] == 1000 and order["bill"]["rows_rejected"] == 0
    assert order["case_after"]["movements"] == case["movements"] + order["bill"]["movements_added"] > case["movements"]
    # sizes with no target of their own show the 10M targets unjudged
    assert order["targets"]["total"] == {"target": "at 10M: < 50 s", "limit": 50.0, "value": order["total"]["seconds"], "met": None}
    assert "| rpa scan |" in proc.stdout and "| DuckDB read_csv → one table, " in proc.stdout

    # a second run reuses the cached world
    again = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "production.py"), "--run", "3000:tenpay", "--worlds", str(tmp_path / "worlds"),
         "--work", str(tmp_path / "work2"), "--order", "roster-first", "--json", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    (run2,) = json.loads(out.read_text(encoding="utf-8"))["runs"]
    assert run2["world"]["cached"] is True and run2["world"]["generated_seconds"] == run["world"]["generated_seconds"]
    assert run2["orders"][0]["order"] == "roster-first"
    assert run2["orders"][0]["case"]["movements"] == case["movements"]
    assert os.listdir(tmp_path / "work2") == []  # without --keep, nothing left
