"""Ingest is a package whose stages read from its file names (walk → detect → parse →
stage → consolidate), every layout hands its rows over by one protocol, and no module
of ingest, the formats or the audit imports another that imports it back."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

ANALYZER = ROOT / "analyzer"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Every analyzer module → the analyzer modules it imports, at the top or inside a
    function (a late import closes a circle as well)."""
    modules = {_module_name(p): p for p in ANALYZER.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("analyzer"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    edges.add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                edges.update(a.name for a in node.names if a.name in modules)
        graph[name] = {e for e in edges if e in modules and e != name}
    return graph


def _circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(component)

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_ingest_stages_are_modules_named_in_the_order_a_file_goes_through_them():
    names = {p.stem for p in (ANALYZER / "ingest").glob("*.py")}
    assert {"walk", "detect", "parse", "stage", "consolidate"} <= names
    assert not (ANALYZER / "ingest.py").exists()


def test_no_import_circle_reaches_ingest_the_formats_or_the_audit():
    graph = _imports()
    watched = ("analyzer.ingest", "analyzer.formats", "analyzer.audit", "analyzer.files")
    circles = [c for c in _circles(graph) if any(m.startswith(watched) for m in c)]
    assert not circles, circles
    # the graph is real: ingest's stage does import the audit, and verify the consolidation
    assert "analyzer.audit" in graph["analyzer.ingest.stage"]
    assert "analyzer.ingest.consolidate" in graph["analyzer.audit"]


def test_every_layout_module_follows_the_one_protocol_and_ingest_has_no_layout_branches():
    from analyzer.ingest.detect import FORMAT_MODULES, format_module

    for name in FORMAT_MODULES:
        module = format_module(name)
        assert callable(module.sniff) and callable(module.stage) and callable(module.drop_staged), name
    for path in (ANALYZER / "ingest").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert 'fmt == "' not in text and "canonical." not in text, path.name


def test_progress_counts_files_bytes_and_rows_of_a_production(tmp_path):
    from analyzer import db
    from analyzer.ingest import ingest_paths
    from tests.helpers import query, rpa, write_canonical

    folder = tmp_path / "exports"
    folder.mkdir()
    for k in range(3):
        write_canonical(folder / f"m{k}.csv", [
            {"txn_id": f"T{k}-{i}", "ts": f"2026-01-0{k + 1} 10:00:{i:02d}", "payer": "a", "payee": f"b{k}", "amount": "1.00"}
            for i in range(k + 2)])
    total = sum(p.stat().st_size for p in folder.iterdir())
    case = tmp_path / "case"
    assert rpa("init", case).exit_code == 0
    seen = []
    con = db.connect(case / "rpa.duckdb")
    try:
        ingest_paths(con, [folder], on_file=lambda *args: seen.append(args))
    finally:
        con.close()
    assert {s[1] for s in seen} == {3} and {s[4] for s in seen} == {total}
    done = [s[3] for s in seen]
    assert done == sorted(done) and done[-1] == total
    first_of = {s[0]: s[3] for s in reversed(seen)}
    assert first_of[1] == (folder / "m0.csv").stat().st_size
    assert seen[-1][2] == "matching the movements" and seen[-1][5] == 2 + 3 + 4
    assert query(case, "SELECT count(*) FROM sightings") == [(9,)]


def test_a_folder_of_many_small_files_of_several_layouts_loads_in_one_batch_each_file_whole(tmp_path):
    import shutil

    from tests.helpers import query, rpa, write_canonical

    folder = tmp_path / "exports"
    folder.mkdir()
    for k in range(6):  # file 3 onwards: line numbers past 3 × 10⁹ in the batch
        write_canonical(folder / f"m{k}.csv", [
            {"txn_id": f"T{k}-{i}", "ts": f"2026-01-{k + 1:02d} 10:00:{i:02d}", "payer": f"a{k}", "payee": f"b{k}",
             "amount": f"{i + 1}.00"} for i in range(3)])
    fixtures = ROOT / "tests" / "fixtures" / "formats"
    bills = [fixtures / "wechat_bill" / "deb-sig_double-entry-generator@16c48b0" / "example-wechat-records.csv",
             fixtures / "alipay_bill" / "deb-sig_double-entry-generator@ef964f3" / "example-alipay-records.csv"]
    for k, p in enumerate(bills):
        shutil.copy(p, folder / f"bill{k}{p.suffix}")
    case = tmp_path / "case"
    assert rpa("init", case).exit_code == 0
    result = rpa("ingest", folder, "--case", case)
    assert result.exit_code in (0, 1), result.output
    sources = query(case, "SELECT name, rows_read FROM sources WHERE name LIKE 'm%.csv' ORDER BY name")
    assert sources == [(f"m{k}.csv", 3) for k in range(6)]
    # every row at its own file's line, in its own source
    assert query(case, """SELECT count(*) FROM sightings s JOIN sources f USING (source_id)
                          WHERE f.name LIKE 'm%.csv' AND s.txn_id = 'T' || substr(f.name, 2, 1) || '-' || (s.line - 2)""") == [(18,)]
    assert query(case, "SELECT count(*) FROM sources WHERE format LIKE 'wechat%' OR format LIKE 'alipay%'") == [(2,)]
    # the batch loaded them as each file alone would: the same sightings
    alone = tmp_path / "alone"
    assert rpa("init", alone).exit_code == 0
    for p in sorted(folder.iterdir()):
        assert rpa("ingest", p, "--case", alone).exit_code in (0, 1)
    sightings = "SELECT f.name, s.line, s.txn_id, s.ts, s.payer, s.payee, s.amount, s.kind, s.raw FROM sightings s JOIN sources f USING (source_id) ORDER BY ALL"
    assert query(case, sightings) == query(alone, sightings)


def test_many_files_are_summed_up_per_format_by_ingest_and_status_and_listed_whole_on_request(tmp_path):
    # A production of thousands of files: the ingest and `rpa status` show one line per
    # layout and the files with rejected rows by name; `rpa status --sources` lists
    # every file, one tab-separated line each.
    from tests.helpers import rpa, write_canonical

    folder = tmp_path / "exports"
    folder.mkdir()
    for k in range(25):
        rows = [{"txn_id": f"T{k}-{i}", "ts": f"2026-01-{k % 28 + 1:02d} 10:00:{i:02d}", "payer": f"a{k}", "payee": f"b{k}",
                 "amount": f"{i + 1}.00"} for i in range(4)]
        if k in (3, 17):
            rows[1]["amount"] = "12.345"
        write_canonical(folder / f"m{k:02d}.csv", rows)
    case = tmp_path / "case"
    assert rpa("init", case).exit_code == 0
    ingested = rpa("ingest", folder, "--case", case)
    assert ingested.exit_code == 1, ingested.output  # rows were rejected
    assert "ingest: 25 files" in ingested.stdout
    summed = next(l for l in ingested.stdout.splitlines() if l.strip("│ ").startswith("canonical"))
    assert [c.strip() for c in summed.strip("│").split("│")][:3] == ["canonical_csv", "25", "0"]  # no owner named
    assert "m03.csv: 1 rows rejected" in ingested.stdout and "m17.csv: 1 rows rejected" in ingested.stdout
    status = rpa("status", "--case", case)
    assert status.exit_code == 0
    assert "sources: 25 files" in status.stdout
    line = next(l for l in status.stdout.splitlines() if l.strip("│ ").startswith("canonical"))
    assert [c.strip() for c in line.strip("│").split("│")][:6] == ["canonical_csv", "25", "0", "98", "0", "2"]  # canonical files name no owner
    assert "m03.csv: 1 rows rejected (source 4, `rpa rejects --source 4`)" in status.stdout
    assert "m10.csv" not in status.stdout and "`rpa status --sources` lists every file" in status.stdout
    listed = rpa("status", "--sources", "--case", case)
    assert listed.exit_code == 0
    rows = [l.split("\t") for l in listed.stdout.splitlines() if "\t" in l]
    assert rows[0] == ["id", "file", "format", "owner", "loaded", "dupl.", "rej.", "from", "to", "sha256"]
    assert sorted(r[1] for r in rows[1:]) == [f"m{k:02d}.csv" for k in range(25)]
    assert {r[1]: r[6] for r in rows[1:]}["m17.csv"] == "1" and all(len(r[9]) == 64 for r in rows[1:])
    # verify counts the intact files and names the others
    (folder / "m05.csv").write_text("changed", encoding="utf-8")
    verified = rpa("verify", "--case", case)
    assert verified.exit_code == 1
    named = [l for l in verified.stdout.splitlines() if l.startswith("source ")]
    assert len(named) == 1 and named[0].startswith(f"source 6 changed: {folder / 'm05.csv'} (sha256 now ")
    assert "24 source files intact" in verified.stdout and "NOT INTACT: 1 changed; 24 of 25 sources intact" in verified.stdout


BILLS = sorted((ROOT / "tests" / "fixtures" / "formats").rglob("*.csv")) + sorted((ROOT / "tests" / "fixtures" / "formats").rglob("*.xlsx"))


def test_a_bill_is_staged_from_its_records_as_from_its_frame():
    """`stage` hands a bill's rows to DuckDB as records; `parse` gives them as a
    DataFrame. Both give the same staged rows, cell by cell, for every sample bill."""
    import duckdb

    from analyzer.formats import alipay, wechat
    from analyzer.formats.base import FRAME_ROWS, MOVEMENT_COLUMNS, drop_frame, stage_frame

    assert BILLS
    columns = ", ".join(MOVEMENT_COLUMNS)
    for path in BILLS:
        module = wechat if "wechat" in str(path) else alipay
        con = duckdb.connect()
        staged = module.stage(con, path, owner="someone")
        from_records = con.execute(f"SELECT {columns} FROM {staged.rows_table} ORDER BY line").fetchall()
        drop_frame(con)
        stage_frame(con, module.parse(path, owner="someone"), path.name)
        from_frame = con.execute(f"SELECT {columns} FROM {FRAME_ROWS} ORDER BY line").fetchall()
        assert from_records == from_frame and len(from_records) > 0, path


def test_a_bill_is_ingested_without_pandas_numpy_or_pyarrow(tmp_path):
    """A bill added to a case does not pay for importing pandas, numpy or pyarrow (about
    half a second of each `rpa ingest`, the most of a small bill's): detection, parsing
    and loading of the bill layouts need none of them."""
    import subprocess
    import sys

    from tests.helpers import query, rpa

    case = tmp_path / "case"
    assert rpa("init", case).exit_code == 0
    bills = [p for p in BILLS if "wechat" in str(p)][:1] + [p for p in BILLS if "alipay" in str(p)][:1]
    script = (
        "import sys; from analyzer.cli import app\n"
        f"app(['ingest', '--case', {str(case)!r}, '--owner', 'me', *sys.argv[1:]], standalone_mode=False)\n"
        "print(sorted(m for m in ('pandas', 'numpy', 'pyarrow') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, *map(str, bills)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert query(case, "SELECT count(DISTINCT source_id) FROM sightings") == [(2,)]
