"""Benchmark: rpa at the shape users have (issue #12), a production of thousands of files.

    python benchmarks/production.py --run 1000000:tenpay --run 1000000:mixed
    python benchmarks/production.py --run 10000000:tenpay --order both --json production.json

For each run MOVEMENTS:FORMAT (tenpay or mixed) it takes a world from `rpa synth`
(cached in --worlds and reused for the same movements, format, seed and synth source;
generation is timed but is not part of the figures), then times, each in a fresh child
process (wall time, and peak memory = the child's max RSS from os.wait4):

  1. DuckDB's own typed read_csv of every TenpayTrades*.txt of the world into one table
     of a new database file (the limit on this machine; for `mixed`, the Tenpay files
     only, the other layouts have no such single read);
  2. rpa ingest of the world's export folders into a new case (after rpa init and the
     world's rpa.toml copied in, which are not timed);
  3. rpa roster people.csv --relations relations.csv;
  4. rpa scan;
  5. rpa ingest of one 1,000-row WeChat Pay CSV bill of a roster person, his
     counterparties other roster persons (the case grows by a bill);
  6. rpa roster again with the same files (the roster reloaded into a full case).

--order roster-last (the default: ingest, roster, scan, as investigators do) or
roster-first (roster, ingest, scan), or both (two cases). Prints a markdown table per
run and order with the issue's targets, a growth table when a format ran at several
sizes, and writes everything as JSON with --json.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import fnmatch
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FORMATS = ("tenpay", "mixed")  # the synth layouts that give a Tenpay production
ORDERS = {
    "roster-last": ("ingest", "roster", "scan"),
    "roster-first": ("roster", "ingest", "scan"),
}
STEPS = ("ingest", "roster", "scan", "bill", "roster_reload")
LABELS = {
    "ingest": "rpa ingest (the world's exports)",
    "roster": "rpa roster",
    "scan": "rpa scan",
    "bill": "rpa ingest of a 1,000-row WeChat bill",
    "roster_reload": "rpa roster reloaded",
}
BILL_ROWS = 1000
# The synth defaults the worlds are made with (the bill's dates fall inside them).
WORLD_START, WORLD_DAYS = dt.date(2025, 1, 1), 365
# Tenpay columns DuckDB types; the rest stay VARCHAR (ids are digits but not numbers).
TYPES = {
    "交易时间": "TIMESTAMP", "对手方接收时间": "TIMESTAMP",
    "交易金额(分)": "BIGINT", "账户余额(分)": "BIGINT", "对手方接收金额(分)": "BIGINT",
}
# The source of the files that decide what `rpa synth` writes: a cached world made by
# other sources is made again.
SYNTH_SOURCES = ("analyzer/synth.py", "analyzer/synth_writers.py", "analyzer/synth_cases.py")

# Targets from issue #12 (2-core machine), by the size they are stated for. MB are
# 10^6 bytes: the stricter reading of "1.5 GB" and "700 MB".
TEN_M, ONE_M = 10_000_000, 1_000_000
TARGETS = {
    "ratio": {TEN_M: 2.0},                    # ingest / DuckDB's read, at most
    "total": {TEN_M: 50.0, ONE_M: 5.0},       # ingest + roster + scan, seconds, under
    "peak": {TEN_M: 1.5e9, ONE_M: 700e6},     # max RSS of ingest, roster, scan, bytes, under
    "bill": {TEN_M: 5.0},                     # seconds, under
    "roster_reload": {TEN_M: 15.0},           # seconds, under
}
LINEAR = 1.25  # growth is linear if time per movement at the largest size ≤ this × at the smallest

# The baseline child. The SQL (thousands of file paths, too long for one argv string)
# comes in a file. Paths are literals, not parameters: DuckDB's Python client imports
# pandas (about 0.3 s) for a statement with parameters, which would flatter rpa.
BASELINE = """
import duckdb, sys
sql = open(sys.argv[2], encoding="utf-8").read()
con = duckdb.connect(sys.argv[1])
con.execute(sql)
con.close()
"""


# --------------------------------------------------------------------------- measuring


def rpa_command() -> str:
    """rpa of the same environment as the running Python."""
    path = Path(sys.executable).parent / "rpa"
    if not path.exists():
        sys.exit(f"production.py: no rpa beside {sys.executable}; install the project into this environment (pip install -e .)")
    return str(path)


def measure(cmd: list[str], log: Path) -> dict:
    """Run a command in a fresh child process, its output into `log`; its wall time,
    CPU time, peak memory (the child's own max RSS and CPU, from os.wait4), exit code
    and the 1-minute load average when it ended."""
    with open(log, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    # CPU time and the load average tell a slow step from a busy machine (2 shared cores)
    return {"seconds": round(seconds, 3), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
            "peak_mib": round(usage.ru_maxrss / 1024, 1), "exit": proc.returncode,
            "load_average": round(os.getloadavg()[0], 2)}


def checked(step: str, result: dict, log: Path, allowed=(0,)) -> dict:
    if result["exit"] not in allowed:
        tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:])
        sys.exit(f"production.py: {step} exited {result['exit']} (log {log}):\n{tail}")
    return result


def tail(log: Path, lines: int = 3) -> list[str]:
    text = log.read_text(encoding="utf-8", errors="replace").splitlines()
    return [line for line in text if line.strip() and not line.startswith(("┏", "┃", "┡", "│", "└"))][-lines:]


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- worlds


def synth_source_hash() -> str:
    h = hashlib.sha256()
    for rel in SYNTH_SOURCES:
        path = ROOT / rel
        h.update(rel.encode() + b"\0" + (path.read_bytes() if path.exists() else b""))
    return h.hexdigest()[:16]


def tenpay_files(world: Path) -> list[bytes]:
    """Every TenpayTrades*.txt under the world, as paths relative to it (bytes: a
    production's top folder name is GBK, as unpacked on Chinese Windows)."""
    found = []
    top = os.fsencode(world)
    for folder, _, names in os.walk(top):
        for name in names:
            if fnmatch.fnmatch(name, b"TenpayTrades*.txt"):
                found.append(os.path.relpath(os.path.join(folder, name), top))
    return sorted(found)


def header_and_data_lines(path: bytes) -> tuple[str, int]:
    """(the header line, the number of data lines after it) of a TenpayTrades file."""
    lines, last, first = 0, b"\n", None
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            if first is None:
                first = chunk.split(b"\n", 1)[0]
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    if last != b"\n":
        lines += 1
    header = (first or b"").rstrip(b"\r").decode("utf-8-sig")
    return header, max(lines - 1, 0)


def survey(world: Path) -> dict:
    """What the baseline and the table need about a world: its export folders and files,
    the Tenpay files with their header and data lines."""
    exports = sorted(p.name for p in world.iterdir() if p.is_dir())
    files = [p for d in exports for p in (world / d).rglob("*") if p.is_file()]
    tenpay = tenpay_files(world)
    headers, rows, size = {}, 0, 0
    for rel in tenpay:
        path = os.path.join(os.fsencode(world), rel)
        header, n = header_and_data_lines(path)
        headers[header] = headers.get(header, 0) + 1
        rows += n
        size += os.path.getsize(path)
    if len(headers) > 1:
        sys.exit(f"production.py: the Tenpay files of {world} have {len(headers)} different headers; one table needs one")
    return {
        "export_dirs": exports, "export_files": len(files), "export_bytes": sum(p.stat().st_size for p in files),
        "tenpay_files": [os.fsdecode(rel) for rel in tenpay], "tenpay_rows": rows, "tenpay_bytes": size,
        "tenpay_header": next(iter(headers), "").split("\t"),
    }


def get_world(worlds: Path, movements: int, fmt: str, seed: int) -> tuple[Path, dict]:
    """The cached world for these options, made (and timed) if missing or stale."""
    source = synth_source_hash()
    folder = worlds / f"{movements}-{fmt}-seed{seed}"
    manifest = folder / "manifest.json"
    if manifest.exists():
        facts = json.loads(manifest.read_text(encoding="utf-8"))
        if facts.get("synth_source") == source:
            facts["cached"] = True
            return folder / "world", facts
        say(f"  world {folder.name}: made by other synth sources, made again")
    shutil.rmtree(folder, ignore_errors=True)
    partial = worlds / f"{folder.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    say(f"  generating world {folder.name} (rpa synth; not part of the figures) …")
    cmd = [rpa_command(), "synth", str(partial / "world"), "--movements", str(movements), "--format", fmt, "--seed", str(seed)]
    gen = checked("rpa synth", measure(cmd, partial / "synth.log"), partial / "synth.log")
    facts = {
        "movements": movements, "format": fmt, "seed": seed, "synth_source": source,
        "generated_seconds": gen["seconds"], "generated_peak_mib": gen["peak_mib"],
        "generated_at": dt.datetime.now().isoformat(timespec="seconds"), "synth_output": [line.replace(str(partial), str(folder)) for line in tail(partial / "synth.log", 1)],
        **survey(partial / "world"),
    }
    (partial / "manifest.json").write_text(json.dumps(facts, ensure_ascii=True, indent=1), encoding="utf-8")
    partial.rename(folder)
    facts["cached"] = False
    return folder / "world", facts


# --------------------------------------------------------------------------- DuckDB's read


def sql_path(path: bytes, links: Path, made: dict[bytes, str]) -> str:
    """A path DuckDB can take as a VARCHAR literal. A component that is not UTF-8 (the
    GBK 财付通_… folder) cannot be in a VARCHAR, so that folder is reached through a
    symlink with a plain name: the same files, the same bytes read."""
    while True:
        parts = path.split(b"/")
        for i, part in enumerate(parts):
            try:
                part.decode("utf-8")
            except UnicodeDecodeError:
                break
        else:
            return path.decode("utf-8")
        prefix = b"/".join(parts[: i + 1])
        if prefix not in made:
            links.mkdir(parents=True, exist_ok=True)
            link = links / f"d{len(made)}"
            os.symlink(prefix, link)
            made[prefix] = str(link)
        path = os.fsencode(made[prefix]) + b"/" + b"/".join(parts[i + 1:])


def baseline_sql(paths: list[str], header: list[str]) -> str:
    """CREATE TABLE t AS SELECT * FROM read_csv([...], …) with the Tenpay columns typed:
    times TIMESTAMP, amounts (fen) BIGINT, the rest VARCHAR. The header's repeated names
    (网联/银联, 第三方账户名称) get a suffix: one table needs distinct columns."""
    seen: dict[str, int] = {}
    columns = []
    for name in header:
        seen[name] = seen.get(name, 0) + 1
        column = name if seen[name] == 1 else f"{name}_{seen[name]}"
        columns.append(f"'{column}': '{TYPES.get(name, 'VARCHAR')}'")

    def quoted(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    return (
        "CREATE TABLE t AS SELECT * FROM read_csv([" + ", ".join(quoted(p) for p in paths) + "], "
        "delim = '\\t', header = true, quote = '\"', escape = '\"', auto_detect = false, "
        "columns = {" + ", ".join(columns) + "})"
    )


def run_baseline(world: Path, facts: dict, work: Path) -> dict:
    folder = work / "duckdb"
    folder.mkdir()
    made: dict[bytes, str] = {}
    top = os.fsencode(world.resolve())
    paths = [sql_path(top + b"/" + os.fsencode(rel), folder / "links", made) for rel in facts["tenpay_files"]]
    sql = baseline_sql(paths, facts["tenpay_header"])
    (folder / "baseline.sql").write_text(sql, encoding="utf-8")
    database = folder / "baseline.duckdb"
    log = folder / "baseline.log"
    result = checked("DuckDB read_csv", measure([sys.executable, "-c", BASELINE, str(database), str(folder / "baseline.sql")], log), log)
    import duckdb

    con = duckdb.connect(str(database), read_only=True)
    rows = con.execute("SELECT count(*) FROM t").fetchone()[0]
    con.close()
    if rows != facts["tenpay_rows"]:
        sys.exit(f"production.py: DuckDB read {rows:,} rows, the Tenpay files have {facts['tenpay_rows']:,} data lines (sql: {folder / 'baseline.sql'})")
    result.update(rows=rows, files=len(paths), database_mib=round(database.stat().st_size / 2**20, 1),
                  sql=sql if len(paths) <= 3 else sql.split("[", 1)[0] + f"[… {len(paths)} paths …]" + sql.split("]", 1)[1])
    return result


# --------------------------------------------------------------------------- the WeChat bill


def write_bill(world: Path, folder: Path) -> tuple[Path, str]:
    """A 1,000-row WeChat Pay CSV bill (the ≤ 2025-06 layout, written by the same code
    as rpa synth's bills) of a roster person of the world, whose counterparties are
    other roster persons, in the world's year: it lands among the case's people.

    Owner and counterparties are persons whose nickname (the second alias in
    people.csv, the name a WeChat bill shows) no other person has, so each resolves.
    Ids are shaped like the real ones, from numbers synth never reaches."""
    from analyzer.synth_writers import write_wechat_csv

    with open(world / "people.csv", encoding="utf-8-sig", newline="") as f:
        people = list(csv.DictReader(f))
    claims: dict[str, int] = {}
    for p in people:
        for alias in p["accounts"].split(";"):
            claims[alias] = claims.get(alias, 0) + 1
    nicks = []
    for p in people:
        aliases = p["accounts"].split(";")
        if len(aliases) > 1 and claims[aliases[1]] == 1 and claims.get(p["name"], 0) <= 1:
            nicks.append(aliases[1])
    if len(nicks) < 2:
        sys.exit(f"production.py: {world / 'people.csv'} has too few persons with a nickname of their own for a bill")
    owner, others = nicks[0], nicks[1:201]
    end = WORLD_START + dt.timedelta(days=WORLD_DAYS - 1)
    step = WORLD_DAYS * 86400 // BILL_ROWS
    yuan = [6.66, 8.88, 66, 88, 168, 200, 520, 1000, 2000, 50]
    rows = []
    for k in range(BILL_ROWS):
        ts = dt.datetime.combine(WORLD_START, dt.time(8)) + dt.timedelta(seconds=k * step + (k * 37) % 3600)
        ymd, seq = ts.strftime("%Y%m%d"), 9_000_000_000 + k
        party, fen = others[k % len(others)], int(round(yuan[k % len(yuan)] * 100))
        out, packet = k % 2 == 0, k % 4 < 2
        if packet:
            fen = min(fen, 20000)  # a red packet is at most 200 yuan
            txn, mch = f"1000039901{ymd[2:]}{seq:020d}", f"1000039901{ymd}{seq:013d}"
            kind, party_cell, goods = ("微信红包（单发）" if out else "微信红包"), ("发给" + party if out else party), "/"
            status = "支付成功" if out else "已存入零钱"
        else:
            txn = mch = f"1000050001{ymd}{seq:013d}"
            kind, party_cell, goods = "转账", party, "转账备注:微信转账"
            status = "对方已收钱" if out else "已收钱"
        rows.append([ts.strftime("%Y-%m-%d %H:%M:%S"), kind, party_cell, goods, "支出" if out else "收入",
                     f"¥{fen // 100}.{fen % 100:02d}", "零钱" if out else "/", status, txn, mch, "/"])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"微信支付账单({WORLD_START:%Y%m%d}-{end:%Y%m%d}).csv"
    write_wechat_csv(path, owner, rows, WORLD_START, end)
    return path, owner


# --------------------------------------------------------------------------- rpa


def case_facts(case: Path) -> dict:
    """What the case holds, read in this process once the children are done."""
    import duckdb

    con = duckdb.connect(str(case / "rpa.duckdb"), read_only=True)
    movements, amount = con.execute("SELECT count(*), sum(amount) FROM transactions").fetchone()
    files, read, loaded, duplicate, rejected = con.execute(
        "SELECT count(*), sum(rows_read), sum(rows_loaded), sum(rows_duplicate), sum(rows_rejected) FROM sources").fetchone()
    findings = con.execute("SELECT count(*) FROM findings").fetchone()[0]
    persons = con.execute("SELECT count(*) FROM persons").fetchone()[0]
    con.close()
    return {"movements": movements, "amount": f"{amount or 0:.2f}", "files": files, "rows_read": int(read or 0),
            "rows_loaded": int(loaded or 0), "rows_duplicate": int(duplicate or 0), "rows_rejected": int(rejected or 0),
            "findings": findings, "persons": persons, "case_mib": case_mib(case)}


def case_mib(case: Path) -> float:
    return round(sum(p.stat().st_size for p in case.glob("rpa.duckdb*")) / 2**20, 1)


def run_order(order: str, world: Path, facts: dict, work: Path, bill: Path) -> dict:
    """One case through the order's steps, then the bill and the roster reloaded."""
    rpa = rpa_command()
    case = work / f"case-{order}"
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    subprocess.run([rpa, "init", str(case)], check=True, stdout=subprocess.DEVNULL)
    shutil.copy(world / "rpa.toml", case / "rpa.toml")
    roster = [world / "people.csv", "--relations", world / "relations.csv"]
    commands = {
        "ingest": [rpa, "ingest", *(world / d for d in facts["export_dirs"]), "--case", case],
        "roster": [rpa, "roster", *roster, "--case", case],
        "scan": [rpa, "scan", "--case", case],
        "bill": [rpa, "ingest", bill, "--case", case],
        "roster_reload": [rpa, "roster", *roster, "--case", case],
    }
    steps, result = {}, {"order": order}
    for step in (*ORDERS[order], "bill", "roster_reload"):
        say(f"  {order}: {step} …")
        log = logs / f"{order}-{step}.log"
        # ingest exits 1 when rows were rejected: the figures still stand, the count is reported
        steps[step] = checked(f"rpa {step}", measure([str(c) for c in commands[step]], log), log,
                              allowed=(0, 1) if step == "ingest" else (0,))
        steps[step].update(case_mib=case_mib(case), output=tail(log))
        if step == "scan":
            result["case"] = case_facts(case)
    after = case_facts(case)
    result["bill"] = {"path": str(bill), "rows": BILL_ROWS, "movements_added": after["movements"] - result["case"]["movements"],
                      "rows_read": after["rows_read"] - result["case"]["rows_read"],
                      "rows_rejected": after["rows_rejected"] - result["case"]["rows_rejected"]}
    result["case_after"] = after
    result["steps"] = steps
    main3 = [steps[s] for s in ("ingest", "roster", "scan")]
    result["total"] = {"seconds": round(sum(s["seconds"] for s in main3), 3), "cpu_seconds": round(sum(s["cpu_seconds"] for s in main3), 3),
                       "peak_mib": max(s["peak_mib"] for s in main3)}
    return result


# --------------------------------------------------------------------------- targets and tables


def judge(movements: int, order: dict, baseline: dict) -> dict:
    """Each target of the issue for this run: its text, the value, met or not (None when
    the issue states it for another size only: shown for reference, not judged)."""
    steps, total = order["steps"], order["total"]
    values = {
        "ratio": steps["ingest"]["seconds"] / baseline["seconds"],
        "total": total["seconds"],
        "peak": total["peak_mib"] * 2**20,
        "bill": steps["bill"]["seconds"],
        "roster_reload": steps["roster_reload"]["seconds"],
    }
    out = {}
    for key, by_size in TARGETS.items():
        limit = by_size.get(movements)
        size = movements if limit is not None else TEN_M
        limit = by_size[size]
        if key == "ratio":
            text, met = f"≤ {limit:g}× DuckDB", values[key] <= limit
        elif key == "peak":
            text, met = f"< {limit / 1e9:g} GB" if limit >= 1e9 else f"< {limit / 1e6:g} MB", values[key] < limit
        else:
            text, met = f"< {limit:g} s", values[key] < limit
        judged = size == movements
        out[key] = {"target": text if judged else f"at 10M: {text}", "limit": limit, "value": round(values[key], 3),
                    "met": met if judged else None}
    return out


def fmt_s(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds >= 10 else f"{seconds:.2f} s"


def fmt_mib(mib: float) -> str:
    return f"{mib:,.0f} MiB"


def verdict(t: dict) -> str:
    return "—" if t["met"] is None else ("met" if t["met"] else "**not met**")


def markdown(run: dict, order: dict) -> str:
    w, base, steps, case = run["world"], run["baseline"], order["steps"], order["case"]
    t = order["targets"]
    flow = " → ".join(ORDERS[order["order"]])
    only = " (the Tenpay files only; the other layouts have no single read)" if run["format"] == "mixed" else ""
    lines = [
        f"### {run['movements']:,} movements, {run['format']}, {order['order']} ({flow})",
        "",
        f"World: {w['export_files']:,} export files ({w['export_bytes'] / 2**20:,.0f} MiB) in {', '.join(w['export_dirs'])}; "
        f"{w['tenpay_files']:,} TenpayTrades.txt with {w['tenpay_rows']:,} rows ({w['tenpay_bytes'] / 2**20:,.0f} MiB). "
        f"Generated by rpa synth --seed {run['seed']} in {w['generated_seconds']:.0f} s"
        + (" (cached)" if w["cached"] else "") + ", not part of the figures.",
        f"Case after scan: {case['movements']:,} movements, ¥{float(case['amount']):,.2f}, {case['files']:,} files loaded, "
        f"{case['rows_read']:,} rows read ({case['rows_duplicate']:,} duplicates, {case['rows_rejected']:,} rejected), "
        f"{case['persons']:,} persons, {case['findings']:,} findings, {case['case_mib']:,.0f} MiB. "
        f"The bill added {order['bill']['movements_added']:,} movements ({order['bill']['rows_read']:,} rows read).",
        "",
        "| step | wall time | CPU time | peak memory | vs DuckDB | target (issue #12) | met |",
        "|---|---:|---:|---:|---:|---|---|",
        f"| DuckDB read_csv → one table, {base['files']:,} Tenpay files, {base['rows']:,} rows{only} "
        f"| {fmt_s(base['seconds'])} | {fmt_s(base['cpu_seconds'])} | {fmt_mib(base['peak_mib'])} | 1.00× | | |",
    ]
    for step in ORDERS[order["order"]]:
        s = steps[step]
        ratio = f"{s['seconds'] / base['seconds']:.2f}×" if step == "ingest" else ""
        target = f"| {t['ratio']['target']} | {verdict(t['ratio'])} |" if step == "ingest" else "| | |"
        lines.append(f"| {LABELS[step]} | {fmt_s(s['seconds'])} | {fmt_s(s['cpu_seconds'])} | {fmt_mib(s['peak_mib'])} | {ratio} {target}")
    total = order["total"]
    lines += [
        f"| ingest + roster + scan | {fmt_s(total['seconds'])} | {fmt_s(total['cpu_seconds'])} | | | {t['total']['target']} | {verdict(t['total'])} |",
        f"| peak memory of ingest, roster, scan | | | {fmt_mib(total['peak_mib'])} | | {t['peak']['target']} | {verdict(t['peak'])} |",
    ]
    for step in ("bill", "roster_reload"):
        s = steps[step]
        lines.append(f"| {LABELS[step]} | {fmt_s(s['seconds'])} | {fmt_s(s['cpu_seconds'])} | {fmt_mib(s['peak_mib'])} | | "
                     f"{t[step]['target']} | {verdict(t[step])} |")
    loads = [f"DuckDB {base['load_average']:g}"] + [f"{step} {steps[step]['load_average']:g}" for step in (*ORDERS[order["order"]], "bill", "roster_reload")]
    lines += ["", f"CPU time is the child's user + system time (2 cores: up to twice the wall time). "
              f"Load average (1 min) as each step ended: {', '.join(loads)}."]
    return "\n".join(lines)


def growth(runs: list[dict]) -> str:
    """Time per million movements in the case, by size, for each format and order run
    at two sizes or more; linear when the largest size's is at most LINEAR × the smallest's."""
    out = []
    groups: dict[tuple[str, str], list[tuple[dict, dict]]] = {}
    for run in runs:
        for order in run["orders"]:
            groups.setdefault((run["format"], order["order"]), []).append((run, order))
    for (fmt, name), members in groups.items():
        if len({r["movements"] for r, _ in members}) < 2:
            continue
        members.sort(key=lambda m: m[0]["movements"])
        out += [f"### Growth, {fmt}, {name}", "",
                "| movements | in the case | DuckDB read | ingest | roster | scan | ingest + roster + scan | per 1M movements | peak memory |",
                "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        per = []
        for run, order in members:
            s, n = order["steps"], order["case"]["movements"]
            per.append(order["total"]["seconds"] / n * 1e6)
            out.append(f"| {run['movements']:,} | {n:,} | {fmt_s(run['baseline']['seconds'])} | {fmt_s(s['ingest']['seconds'])} "
                       f"| {fmt_s(s['roster']['seconds'])} | {fmt_s(s['scan']['seconds'])} | {fmt_s(order['total']['seconds'])} "
                       f"| {fmt_s(per[-1])} | {fmt_mib(order['total']['peak_mib'])} |")
        ratio = per[-1] / per[0]
        out += ["", f"Time per movement at {members[-1][0]['movements']:,} is {ratio:.2f}× that at {members[0][0]['movements']:,} "
                f"(linear: at most {LINEAR}×): {'met' if ratio <= LINEAR else '**not met**'}.", ""]
    return "\n".join(out)


# --------------------------------------------------------------------------- main


def parse_run(spec: str) -> tuple[int, str]:
    try:
        size, fmt = spec.split(":")
        movements = int(size.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{spec!r}: expected MOVEMENTS:FORMAT, e.g. 1000000:tenpay") from None
    if fmt not in FORMATS or movements <= 0:
        raise argparse.ArgumentTypeError(f"{spec!r}: FORMAT is one of {', '.join(FORMATS)} (the layouts with a Tenpay production)")
    return movements, fmt


def machine() -> dict:
    import duckdb

    from analyzer import __version__

    return {"cpus": os.cpu_count(), "python": platform.python_version(), "duckdb": duckdb.__version__, "rpa": __version__,
            "load_average": [round(x, 2) for x in os.getloadavg()], "date": dt.datetime.now().isoformat(timespec="seconds")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=parse_run, action="append", metavar="MOVEMENTS:FORMAT",
                        help="a world to measure, FORMAT tenpay or mixed (repeatable; default 1000000:tenpay)")
    parser.add_argument("--worlds", type=Path, default=Path(tempfile.gettempdir()) / "rpa-bench-worlds",
                        help="cache of generated worlds, reused for the same size, format, seed and synth source")
    parser.add_argument("--seed", type=int, default=1, help="rpa synth --seed")
    parser.add_argument("--order", choices=[*ORDERS, "both"], default="roster-last",
                        help="roster-last: ingest, roster, scan (default); roster-first: roster, ingest, scan; both: a case each")
    parser.add_argument("--work", type=Path, help="where each run's folder (cases, logs, DuckDB's table) goes; default the system temp dir")
    parser.add_argument("--keep", action="store_true", help="keep the cases, logs and DuckDB's table (their folder is printed)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    orders = list(ORDERS) if args.order == "both" else [args.order]
    args.worlds.mkdir(parents=True, exist_ok=True)
    results = {"machine": machine(), "runs": []}
    for movements, fmt in args.run or [(ONE_M, "tenpay")]:
        say(f"{movements:,} movements, {fmt}:")
        world, facts = get_world(args.worlds, movements, fmt, args.seed)
        say(f"  world {world}: " + ("cached, " if facts["cached"] else "") + f"generated in {facts['generated_seconds']:.1f} s "
            f"(peak {facts['generated_peak_mib']:,.0f} MiB), not part of the figures")
        if args.work:
            args.work.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f"rpa-bench-{movements}-{fmt}-", dir=args.work))
        try:
            say("  DuckDB read_csv …")
            baseline = run_baseline(world, facts, work)
            bill, owner = write_bill(world, work / "bill")
            run = {"movements": movements, "format": fmt, "seed": args.seed,
                   # the Tenpay file list (thousands of paths) stays in the world's manifest
                   "world": {"path": str(world), **{k: v for k, v in facts.items() if k != "tenpay_files"},
                             "tenpay_files": len(facts["tenpay_files"])},
                   "baseline": baseline, "orders": []}
            for order in orders:
                result = run_order(order, world, facts, work, bill)
                result["targets"] = judge(movements, result, baseline)
                run["orders"].append(result)
                print(markdown(run, result) + "\n", flush=True)
            run["work"] = str(work) if args.keep else None
            results["runs"].append(run)
        finally:
            if args.keep:
                say(f"  kept: {work}")
            else:
                shutil.rmtree(work, ignore_errors=True)
    text = growth(results["runs"])
    if text:
        print(text, flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
