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
