"""The `rpa` command line: a thin layer over the core modules.

Each command parses its options, calls one core function and prints the result.
User mistakes (RpaError) become one line on stderr and an exit code, never a traceback.
"""

from __future__ import annotations

from collections import Counter

import functools
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import duckdb
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from analyzer import __version__
from analyzer.case import find_case, init_case, open_case
from analyzer.errors import RpaError

app = typer.Typer(
    name="rpa",
    help=(
        "rpa — red-packet transaction anomaly analyzer.\n\n"
        "Load WeChat Pay, Alipay and Tenpay exports into a DuckDB case, say who is who, "
        "and find the patterns that discipline rules forbid.\n\n"
        "Example:\n\n"
        "    rpa init case1 && cd case1\n\n"
        "    rpa roster people.csv --relations relations.csv\n\n"
        "    rpa ingest ~/exports/\n\n"
        "    rpa status"
    ),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    add_completion=False,
)
# Piped output (a file, another program) gets wide tables instead of folded cells.
_width = None if sys.stdout.isatty() else 200
out = Console(highlight=False, soft_wrap=True, width=_width)
err = Console(stderr=True, highlight=False, soft_wrap=True)

CaseOption = Annotated[
    Optional[Path],
    typer.Option("--case", envvar="RPA_CASE", help="Case folder to work on (default: the current folder; env RPA_CASE).", show_default=False),
]
# Every command that changes the case says who did it, for the audit log (`rpa log`).
ByOption = Annotated[
    Optional[str],
    typer.Option("--by", envvar="RPA_BY", metavar="NAME", help="Who does this, for the audit log (default: the OS user; env RPA_BY).", show_default=False),
]


def require_derived(con) -> None:
    """Refuse to read movements a stopped derivation left partly written (one line)."""
    from analyzer.ingest.consolidate import require_derived as check

    check(con)


def handle_errors(fn):
    """Turn RpaError into `rpa: <message>` on stderr and its exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RpaError as exc:
            err.print(f"rpa: {exc}", markup=False)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("rpa: interrupted; the file being loaded was not kept", markup=False)
            raise typer.Exit(130) from None
        except duckdb.OutOfMemoryException:
            # Not the user's mistake, but not a bug to show a traceback for either: the
            # case is bigger than the memory DuckDB may use. The step was rolled back, or,
            # in the derivation of the movements, marked to be done again.
            from analyzer.db import memory_limit

            err.print(f"rpa: DuckDB ran out of memory (limit {memory_limit()}); what it was writing was rolled back "
                      "or marked to be derived again, nothing half-written is used. "
                      "Run the command again with more, e.g. RPA_MEMORY_LIMIT=2GB", markup=False)
            raise typer.Exit(2) from None

    return wrapper


def version_callback(value: bool) -> None:
    if value:
        out.print(f"rpa {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """rpa — red-packet transaction anomaly analyzer."""


@app.command()
@handle_errors
def init(
    folder: Annotated[Path, typer.Argument(help="Folder of the new case (made if missing).")] = Path("."),
    encrypt: Annotated[bool, typer.Option("--encrypt", help="Encrypt the case database; the key comes from env RPA_KEY or is asked for, and is never stored.")] = False,
) -> None:
    """Create a case: the DuckDB file rpa.duckdb and a commented rpa.toml.

    With --encrypt the database is encrypted at rest (DuckDB's AES-GCM encryption):
    every later command needs the key, from env RPA_KEY or typed at a prompt.

    Example:

        rpa init ~/cases/guyun-2026

        rpa init --encrypt ~/cases/guyun-2026
    """
    path, created = init_case(folder, encrypt=encrypt)
    if created:
        state = "encrypted " if encrypt else ""
        out.print(f"created {state}case in {path} (rpa.duckdb, rpa.toml)")
        if encrypt:
            out.print("keep the key safe: rpa does not store it, and without it the case cannot be opened")
    else:
        out.print(f"{path} already holds a case; left as it is")


@app.command()
@handle_errors
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Export files, or folders to walk (e.g. a Tenpay production).", show_default=False)],
    format: Annotated[
        Optional[str],
        typer.Option("--format", help="Layout to use instead of detecting it: wechat, alipay, tenpay, canonical.", show_default=False),
    ] = None,
    owner: Annotated[
        Optional[str],
        typer.Option("--owner", help="Account holder of the file(s), when the export does not name one or names it wrongly.", show_default=False),
    ] = None,
    by: ByOption = None,
    case: CaseOption = None,
) -> None:
    """Load export files into the case: WeChat Pay bills (CSV/XLSX), Alipay bills,
    Tenpay TenpayTrades.txt productions, rpa canonical CSV/Parquet.

    The layout is detected from the content. A movement seen in several exports (the
    payer's and the payee's) is stored once; a file ingested twice adds nothing.
    Rows that do not load are kept in the case with their line and reason
    (`rpa rejects`). Files in a folder that no layout recognises are listed as skipped.
    Exit 0 when all loaded, 1 when rows were rejected or a skipped file looks like an
    export (.csv, .xlsx, .xls, .txt, .parquet), 2 when a file could not be read (or
    rpa crashed on it: an "rpa bug" line).

    Example:

        rpa ingest 微信支付账单流水文件(20260101-20260331).xlsx alipay_record_20260401.csv

        rpa ingest production/   # walks the folder, takes every export it recognises
    """
    from analyzer.ingest import ingest_paths, looks_like_export

    with open_case(case, long_write="ingest", inputs=paths) as con:
        show = sys.stderr.isatty()
        # The bar and the remaining time follow the bytes read; files and rows beside them.
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
            TextColumn("{task.fields[files]} files · {task.fields[size]} · {task.fields[rows]} rows"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=True, disable=not show,
        ) as progress:
            task = progress.add_task("reading", total=None, files="", size="", rows="0")

            def on_file(i: int, n: int, text: str, done: int = 0, total: int = 0, rows: int = 0) -> None:
                progress.update(task, completed=done, total=total or None, description=text[:50], files=f"{i:,}/{n:,}",
                                size=f"{done / 2**20:,.0f}/{total / 2**20:,.0f} MiB", rows=f"{rows:,}")

            results = ingest_paths(con, paths, format=format, owner=owner, on_file=on_file, actor=by)

    loaded_files = [r for r in results if r.status == "loaded"]
    notes = [r for r in results if r.status != "loaded"]
    day = lambda t: f"{t:%Y-%m-%d}" if t else ""  # noqa: E731
    if len(loaded_files) <= MANY_FILES:
        table = Table(title="ingest", show_lines=False)
        for col in ("file", "format", "owner", "loaded", "duplicates", "rejected", "from", "to"):
            table.add_column(col, justify="right" if col in ("loaded", "duplicates", "rejected") else "left")
        for r in loaded_files:
            table.add_row(r.name.split("/")[-1], r.format, r.owner or "", str(r.loaded), str(r.duplicate), str(r.rejected),
                          day(r.first_ts), day(r.last_ts))
        if table.row_count:
            out.print(table)
    else:
        # A production of thousands of files: one line per layout; the files with rejects
        # by name; every file stays listed in the case (`rpa status`).
        table = Table(title=f"ingest: {len(loaded_files):,} files", show_lines=False)
        for col in ("format", "files", "owners", "rows", "loaded", "duplicates", "rejected", "from", "to"):
            table.add_column(col, justify="left" if col in ("format", "from", "to") else "right")
        for fmt in sorted({r.format for r in loaded_files}):
            group = [r for r in loaded_files if r.format == fmt]
            firsts = [r.first_ts for r in group if r.first_ts]
            lasts = [r.last_ts for r in group if r.last_ts]
            table.add_row(fmt, f"{len(group):,}", f"{len({r.owner for r in group if r.owner}):,}", f"{sum(r.rows_read for r in group):,}",
                          f"{sum(r.loaded for r in group):,}", f"{sum(r.duplicate for r in group):,}",
                          f"{sum(r.rejected for r in group):,}", day(min(firsts, default=None)), day(max(lasts, default=None)))
        out.print(table)
        with_rejects = [r for r in loaded_files if r.rejected]
        for r in with_rejects[:MANY_FILES]:
            out.print(f"{r.name}: {r.rejected} rows rejected (source {r.source_id})", markup=False)
        if len(with_rejects) > MANY_FILES:
            out.print(f"… and {len(with_rejects) - MANY_FILES} more files with rejected rows (`rpa status`, `rpa rejects`)")
    # Files found in a folder that no layout recognised: always listed. One that looks
    # like an export (.csv, .xlsx, .txt …) may be a damaged file or a layout rpa does not
    # know: said on stderr, and the ingest exits 1.
    skipped = [r for r in notes if r.status == "unknown" and "skipped" in r.message]
    suspect = [r for r in skipped if looks_like_export(r.path)]
    notes = [r for r in notes if not (r.status == "unknown" and "skipped" in r.message)]
    if len(skipped) > MANY_FILES:
        names = Counter(r.name.split("/")[-1] for r in skipped)
        common = ", ".join(f"{n} ×{c}" for n, c in names.most_common(3))
        out.print(f"{len(skipped):,} files skipped, no known layout ({common} …)", markup=False)
        if suspect:
            first = ", ".join(r.name for r in suspect[:SHOWN_SKIPPED])
            more = f" and {len(suspect) - SHOWN_SKIPPED:,} more" if len(suspect) > SHOWN_SKIPPED else ""
            err.print(f"{len(suspect):,} of them look like exports, check them or name their layout with --format: "
                      f"{first}{more}", markup=False)
    else:
        for r in skipped:
            if r in suspect:
                err.print(f"{r.message}, though it looks like an export: check it, or name its layout with --format", markup=False)
            else:
                out.print(r.message, markup=False)
    for r in notes:
        (out if r.status == "already" else err).print(r.message, markup=False)
    loaded = sum(r.loaded for r in results)
    rejected = sum(r.rejected for r in results)
    out.print(
        f"{loaded} movements added, {sum(r.duplicate for r in results)} already known, {rejected} rows rejected"
        + (" (see `rpa rejects`)" if rejected else "")
    )
    failed = [r for r in results if r.status in ("error", "bug") or (r.status == "unknown" and "skipped" not in r.message)]
    if failed:
        raise typer.Exit(2)
    if rejected or suspect:
        raise typer.Exit(1)


# Above this many files, `rpa ingest` sums them up by layout instead of a line each.
MANY_FILES = 20
# ... and names this many of the skipped files that look like exports.
SHOWN_SKIPPED = 5


@app.command()
@handle_errors
def roster(
    people: Annotated[Path, typer.Argument(help="People CSV: person_id, name, accounts, party_member, official, org_unit, position, rank.")],
    relations: Annotated[
        Optional[Path],
        typer.Option("--relations", help="Relations CSV: person_id, other_id, relation (subordinate, service_object, family, colleague).", show_default=False),
    ] = None,
    by: ByOption = None,
    case: CaseOption = None,
) -> None:
    """Load (replace) the roster: who is who, their accounts and aliases, and relations.

    Example:

        rpa roster people.csv --relations relations.csv
    """
    from analyzer.roster import load_roster

    with open_case(case, long_write="roster") as con:
        r = load_roster(con, people, relations, actor=by)
    out.print(
        f"roster loaded: {r.persons} persons, {r.aliases} aliases, {r.relations} relations; "
        f"{r.accounts_resolved} accounts in the data resolve to persons"
    )
    for a in r.ambiguous:
        err.print(f"warning: alias {a} is claimed by several persons; it resolves to nobody", markup=False)


@app.command()
@handle_errors
def people(
    case: CaseOption = None,
    links: Annotated[bool, typer.Option("--links", help="Also list the nicknames learned to be accounts from the exports.")] = False,
) -> None:
    """List persons with their aliases, accounts seen and how many movements each has.

    With --links, also the alias links rpa learned: a nickname a WeChat bill shows that
    a Tenpay production showed as an account in the same movement (same 交易单号).

    Example:

        rpa people --links
    """
    from analyzer.roster import list_people
    from analyzer.status import alias_links

    with open_case(case, read_only=True) as con:
        require_derived(con)
        rows = list_people(con)
        learned = alias_links(con) if links else []
    if learned:
        table = Table(title="alias links learned from the exports")
        for col in ("nickname", "account", "movements", "status"):
            table.add_column(col, justify="right" if col == "movements" else "left")
        for alias, account, n, status in learned:
            table.add_row(alias, account, str(n), status)
        out.print(table)
    if not rows:
        out.print("no persons: load a roster with `rpa roster people.csv`")
        return
    table = Table(title="people")
    for col in ("person_id", "name", "party", "official", "org_unit", "position", "rank", "aliases", "accounts", "movements"):
        table.add_column(col, justify="right" if col in ("rank", "accounts", "movements") else "left")
    yn = lambda b: "yes" if b else "no"  # noqa: E731
    for r in rows:
        table.add_row(
            r["person_id"], r["name"] or "", yn(r["party_member"]), yn(r["official"]), r["org_unit"] or "",
            r["position"] or "", "" if r["rank"] is None else str(r["rank"]), r["aliases"] or "",
            str(r["accounts_seen"]), str(r["transactions"]),
        )
    out.print(table)


@app.command()
@handle_errors
def status(
    sources: Annotated[bool, typer.Option("--sources", help="List every source file, however many (one tab-separated line each).")] = False,
    case: CaseOption = None,
) -> None:
    """Say what the case holds: sources, movements, money, roster, rejects. A case of
    more than 20 files shows its sources per format, and the files with rejected rows.

    Example:

        rpa status --case ~/cases/guyun-2026

        rpa status --sources > sources.tsv
    """
    from analyzer.status import case_status

    folder = find_case(case)
    with open_case(case, read_only=True) as con:
        s = case_status(con)
    out.print(f"case {folder} (schema {s.schema_version}, rpa {__version__})")
    period = f"{s.first_ts} → {s.last_ts}" if s.first_ts else "no movements yet"
    out.print(f"{s.sources} sources, {s.transactions} movements, ¥{s.amount:,.2f} moved, {period}")
    out.print(f"{s.duplicates} duplicate sightings merged, {s.rejects} rows rejected")
    out.print(
        f"roster: {s.persons} persons, {s.relations} relations; accounts: {s.accounts}, "
        f"{s.accounts_resolved} resolved to persons"
    )
    if s.interrupted:
        err.print("the movements were being derived when rpa stopped (killed, or out of memory): "
                  "the next `rpa ingest`, `rpa roster` or `rpa scan` derives them again; until then "
                  "`rpa people`, `show`, `export` and `report` refuse to read them")
    elif s.stale:
        err.print("the movements do not yet reflect the last files loaded (an ingest was stopped): "
                  "the next `rpa ingest`, `rpa roster` or `rpa scan` brings them up to date")
    if s.alias_links:
        used = sum(1 for link in s.alias_links if link[3] == "used")
        out.print(f"alias links learned from the exports: {used} used, {len(s.alias_links) - used} ambiguous (`rpa people --links`)")
    if s.by_kind:
        table = Table(title="movements by kind")
        for col in ("kind", "count", "amount"):
            table.add_column(col, justify="left" if col == "kind" else "right")
        for kind, n, amt in s.by_kind:
            table.add_row(kind, str(n), f"¥{amt:,.2f}")
        out.print(table)
    columns = ("id", "file", "format", "owner", "loaded", "dupl.", "rej.", "from", "to", "sha256")
    if sources:
        # every file, as lines a spreadsheet or grep reads (a table of 66,810 files took 70 s to draw)
        lines = ["\t".join(columns)]
        for sid, name, fmt, owner, loaded, dup, rej, first, last, sha in s.source_rows:
            lines.append("\t".join((str(sid), name, fmt, owner or "", str(loaded), str(dup), str(rej), str(first or ""),
                                    str(last or ""), sha)))
        print("\n".join(lines))
    elif len(s.source_rows) > MANY_FILES:
        table = Table(title=f"sources: {len(s.source_rows):,} files")
        for col in ("format", "files", "owners", "loaded", "dupl.", "rej.", "from", "to"):
            table.add_column(col, justify="left" if col in ("format", "from", "to") else "right")
        for fmt, files, owners, loaded, dup, rej, first, last in s.by_format:
            table.add_row(fmt, f"{files:,}", f"{owners:,}", f"{loaded:,}", f"{dup:,}", f"{rej:,}", str(first or ""), str(last or ""))
        out.print(table)
        with_rejects = [r for r in s.source_rows if r[6]]
        for sid, name, *_, rej, _first, _last, _sha in with_rejects[:MANY_FILES]:
            out.print(f"{name}: {rej} rows rejected (source {sid}, `rpa rejects --source {sid}`)", markup=False)
        if len(with_rejects) > MANY_FILES:
            out.print(f"… and {len(with_rejects) - MANY_FILES:,} more files with rejected rows", markup=False)
        out.print("`rpa status --sources` lists every file", markup=False)
    elif s.source_rows:
        table = Table(title="sources")
        for col in columns:
            table.add_column(col)
        for sid, name, fmt, owner, loaded, dup, rej, first, last, sha in s.source_rows:
            table.add_row(str(sid), name, fmt, owner or "", str(loaded), str(dup), str(rej), str(first or ""), str(last or ""), sha[:12])
        out.print(table)


@app.command()
@handle_errors
def rejects(
    source: Annotated[Optional[int], typer.Option("--source", help="Only this source id (see `rpa status`).", show_default=False)] = None,
    limit: Annotated[int, typer.Option("--limit", help="Show at most this many rows.")] = 50,
    case: CaseOption = None,
) -> None:
    """List rejected rows with their file, line and reason.

    Example:

        rpa rejects --source 3
    """
    from analyzer.status import list_rejects

    with open_case(case, read_only=True) as con:
        rows = list_rejects(con, source, limit)
    if not rows:
        out.print("no rejected rows")
        return
    table = Table(title="rejected rows")
    for col in ("source", "file", "line", "reason", "raw"):
        table.add_column(col)
    for sid, name, line, reason, raw in rows:
        table.add_row(str(sid), name, str(line), reason, (raw or "")[:80])
    out.print(table)


def _rules_dirs(case_folder: Path | None, rules_dir: list[Path] | None) -> list[Path]:
    """The extra rule folders: rpa.toml's rules_dir, then --rules-dir."""
    from analyzer.config import load_settings

    dirs = []
    if case_folder is not None:
        settings = load_settings(case_folder)
        if settings.rules_dir:
            dirs.append(settings.rules_dir)
    return dirs + list(rules_dir or [])


@app.command()
@handle_errors
def scan(
    window: Annotated[
        str,
        typer.Option("--window", help="Scope: all, election, promotion, custom, festival, or a window's name from rpa.toml."),
    ] = "all",
    rule: Annotated[Optional[list[str]], typer.Option("--rule", metavar="ID", help="Run only this rule (repeatable).", show_default=False)] = None,
    since: Annotated[Optional[datetime], typer.Option("--since", formats=["%Y-%m-%d"], help="Only movements on or after this day.", show_default=False)] = None,
    until: Annotated[Optional[datetime], typer.Option("--until", formats=["%Y-%m-%d"], help="Only movements on or before this day.", show_default=False)] = None,
    param: Annotated[Optional[list[str]], typer.Option("--param", metavar="ID.KEY=VALUE", help="Set a rule parameter for this run (repeatable).", show_default=False)] = None,
    rules_dir: Annotated[Optional[list[Path]], typer.Option("--rules-dir", metavar="DIR", help="A folder of your own rules to run too (repeatable).", show_default=False)] = None,
    by: ByOption = None,
    case: CaseOption = None,
) -> None:
    """Run the SQL rules and store their findings.

    A finding given again keeps its id and triage status; one its rule no longer gives
    is kept, marked stale; suppressions in force mark the findings they match. Exit 0
    whether or not anything was found.

    Example:

        rpa scan --window election

        rpa scan --rule split_packets --param split_packets.min_packets=4 --since 2026-01-01
    """
    from analyzer.config import load_settings
    from analyzer.rules import load_rules, resolve_params
    from analyzer.scan import scan as run_scan

    folder = find_case(case)
    settings = load_settings(folder)
    rules = load_rules(_rules_dirs(folder, rules_dir))
    if rule:
        unknown = [r for r in rule if r not in rules]
        if unknown:
            raise RpaError(f"no rule {unknown[0]!r}: see `rpa rules`")
    params = resolve_params(rules, settings.rules, param or [])
    chosen = [rules[r] for r in (rule or rules)]
    with open_case(case, long_write="scan") as con:
        from analyzer.ingest.consolidate import derive_movements, is_stale

        if is_stale(con):  # an ingest was stopped after loading files: derive their movements first
            derive_movements(con)
        runs = run_scan(con, chosen, params, settings, scope=window,
                        since=since.date() if since else None, until=until.date() if until else None, actor=by)
    table = Table(title=f"scan ({window})")
    for col in ("rule", "findings", "high", "medium", "low", "new", "suppressed", "went stale", "seconds"):
        table.add_column(col, justify="left" if col == "rule" else "right")
    for r in runs:
        table.add_row(r.rule.id, str(r.findings), str(r.by_severity["high"]), str(r.by_severity["medium"]),
                      str(r.by_severity["low"]), str(r.new), str(r.suppressed), str(r.stale), f"{r.seconds:.2f}")
    out.print(table)
    total = sum(r.findings for r in runs)
    suppressed, stale = sum(r.suppressed for r in runs), sum(r.stale for r in runs)
    extra = [f"{suppressed} suppressed" if suppressed else "", f"{stale} earlier finding{'s' if stale != 1 else ''} went stale" if stale else ""]
    extra = "; ".join(e for e in extra if e)
    out.print(f"{total} findings from {len(runs)} rules" + (f" ({extra})" if extra else "")
              + (" — see `rpa findings`" if total or stale else ""))


@app.command()
@handle_errors
def findings(
    rule: Annotated[Optional[list[str]], typer.Option("--rule", metavar="ID", help="Only this rule (repeatable).", show_default=False)] = None,
    severity: Annotated[Optional[str], typer.Option("--severity", help="Only high, medium or low.", show_default=False)] = None,
    status: Annotated[Optional[str], typer.Option("--status", help="Only this triage status: new, reviewing, confirmed, dismissed, escalated.", show_default=False)] = None,
    stale: Annotated[bool, typer.Option("--stale", help="Also list stale findings (their rule's latest scan no longer gives them).")] = False,
    suppressed: Annotated[bool, typer.Option("--suppressed", help="Also list findings a suppression in force keeps out.")] = False,
    format: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    lang: Annotated[str, typer.Option("--lang", help="Language of the reason: zh or en.")] = "zh",
    case: CaseOption = None,
) -> None:
    """List the findings of the last scans with their triage status and note, most
    severe first. Stale and suppressed findings are left out unless asked for.

    Example:

        rpa findings --severity high

        rpa findings --status confirmed --stale

        rpa findings --format json > findings.json
    """
    import csv
    import json

    from analyzer.findings import hidden_counts, list_findings, money
    from analyzer.triage import check_status

    if severity is not None and severity not in ("high", "medium", "low"):
        raise RpaError("--severity must be high, medium or low")
    if status is not None:
        check_status(status)
    if format not in ("table", "json", "csv"):
        raise RpaError("--format must be table, json or csv")
    if lang not in ("zh", "en"):
        raise RpaError("--lang must be zh or en")
    with open_case(case, read_only=True) as con:
        rows = list_findings(con, rule, severity, lang, status=status, include_stale=stale, include_suppressed=suppressed)
        hidden_stale, hidden_suppressed = hidden_counts(con, rule, severity, status)
    keys = ["id", "rule", "severity", "score", "subject", "counterparties", "window", "start", "end", "total_amount", "txn_count", "txn_ids", "reason",
            "status", "note", "triaged_by", "triaged_at", "stale", "suppressed_by"]
    if format == "json":
        print(json.dumps([{k: r[k] for k in keys} for r in rows], ensure_ascii=False, indent=2))
        return
    if format == "csv":
        w = csv.writer(sys.stdout)
        w.writerow(keys)
        for r in rows:
            w.writerow([";".join(r[k]) if isinstance(r[k], list) else str(r[k]).lower() if isinstance(r[k], bool) else r[k] for k in keys])
        return
    hidden = [f"{n} {what} (--{what})" for n, what, shown in ((hidden_stale, "stale", stale), (hidden_suppressed, "suppressed", suppressed)) if n and not shown]
    if not rows:
        out.print("no findings" + (f"; not listed: {', '.join(hidden)}" if hidden else ": run `rpa scan`"))
        return
    table = Table(title="findings")
    for col in ("id", "rule", "sev.", "score", "subject", "window", "amount", "n", "reason", "status", "note"):
        table.add_column(col, justify="right" if col in ("score", "amount", "n") else "left", overflow="fold")
    for r in rows:
        subject = r["subject"] + (f" {r['subject_name']}" if r["subject_name"] else "")
        marks = (["stale"] if r["stale"] else []) + ([f"suppressed #{r['suppressed_by']}"] if r["suppressed_by"] else [])
        table.add_row(r["id"], r["rule"], r["severity"], f"{r['score']:.0f}", subject, r["window"] or "",
                      money(r["total_amount"]), str(r["txn_count"]), r["reason"], " · ".join([r["status"], *marks]), r["note"] or "")
    out.print(table)
    if hidden:
        out.print(f"not listed: {', '.join(hidden)}")


@app.command()
@handle_errors
def show(
    finding_id: Annotated[str, typer.Argument(help="A finding id from `rpa findings`.")],
    lang: Annotated[str, typer.Option("--lang", help="zh or en.")] = "zh",
    case: CaseOption = None,
) -> None:
    """Print one finding: why it fired, its figures against the thresholds, and the
    evidence movements with the file and line each came from.

    Example:

        rpa show F3A9C0D12B45
    """
    from analyzer.findings import get_finding, money
    from analyzer.rules import figure_rows, figure_text
    from analyzer.scan import EVIDENCE_HISTORY
    from analyzer.triage import history

    with open_case(case, read_only=True) as con:
        require_derived(con)
        f, evidence = get_finding(con, finding_id)
        decisions = history(con, f["id"])
        changes = f["metrics"].pop(EVIDENCE_HISTORY, [])
        moved = [i for c in changes for i in c["added"] + c["removed"]]
        txn_of = dict(con.execute("SELECT id, coalesce(txn_id, '#' || id) FROM transactions WHERE list_contains(?, id)", [moved]).fetchall()) if moved else {}
    out.print(f"{f['id']}  {f['rule']}  severity {f['severity']}  score {f['score']:.0f}", markup=False)
    state = f["status"] + (" · stale: its rule's latest scan no longer gives it" if f["stale"] else "")
    state += f" · suppressed by suppression {f['suppressed_by']} (`rpa suppress --list`)" if f["suppressed_by"] else ""
    out.print(f"status: {state}", markup=False)
    out.print(f"subject: {f['subject']}" + (f" ({f['subject_name']})" if f["subject_name"] else ""), markup=False)
    if f["window"]:
        out.print(f"window: {f['window']}", markup=False)
    out.print(f"period: {f['start']} → {f['end']}", markup=False)
    out.print(f"reason: {f['reason_zh'] if lang == 'zh' else f['reason_en']}", markup=False)
    out.print(f"parameters: {', '.join(f'{k}={v}' for k, v in f['params'].items())}", markup=False)
    rule = _shown_rule(f["rule"])
    figures = figure_rows(rule, f["metrics"], lang) if rule else list(f["metrics"].items())
    if figures:
        out.print("figures:" if lang == "en" else "指标:", markup=False)
    for label, value in figures:
        if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
            rows = Table(title=label, title_justify="left")
            for key in value[0]:
                rows.add_column(key, overflow="fold")
            for r in value:
                rows.add_row(*(figure_text(v) for v in r.values()))
            out.print(rows)
        else:
            out.print(f"  {label}: {figure_text(value)}", markup=False)
    table = Table(title=f"evidence ({len(evidence)} movements, {money(f['total_amount'])})")
    for col in ("time", "payer", "payee", "amount", "kind", "status", "txn_id", "source"):
        table.add_column(col, justify="right" if col == "amount" else "left", overflow="fold")
    for e in evidence:
        payer = e["payer"] + (f" [{e['payer_person']}]" if e["payer_person"] else "") if e["payer"] else ""
        payee = (e["payee"] or "") + (f" [{e['payee_person']}]" if e["payee_person"] else "")
        table.add_row(str(e["ts"]), payer, payee, money(e["amount"]), e["kind"], e["status"], e["txn_id"] or "", f"{e['file']}:{e['line']}")
    out.print(table)
    if decisions:
        out.print("triage history:")
    for d in decisions:
        out.print(f"  {d['at']}  {d['by']}: {d['status']}" + (f" — {d['note']}" if d["note"] else ""), markup=False)
    if changes:
        # the same finding, grown (or shrunk) with the data: what changed since each decision
        out.print("evidence changes since it was first found (the same finding; its decisions stay):", markup=False)
    for c in changes:
        added = ", ".join(txn_of.get(i, str(i)) for i in c["added"])
        removed = ", ".join(txn_of.get(i, str(i)) for i in c["removed"])
        out.print(
            f"  scan {c['scan_id']} (status then: {c['status']}): +{len(c['added'])} movement(s)"
            + (f" [{added}]" if added else "") + f", −{len(c['removed'])}" + (f" [{removed}]" if removed else ""),
            markup=False,
        )


def _shown_rule(rule_id: str):
    """The shipped rule of that id (for its figure labels), or None for a rule from a
    --rules-dir that is not at hand."""
    from analyzer.rules import RuleError, load_rules

    try:
        return load_rules().get(rule_id)
    except RuleError:
        return None


@app.command()
@handle_errors
def triage(
    finding_id: Annotated[str, typer.Argument(help="A finding id from `rpa findings`.")],
    status: Annotated[str, typer.Option("--status", help="new, reviewing, confirmed, dismissed or escalated.", show_default=False)],
    note: Annotated[Optional[str], typer.Option("--note", metavar="TEXT", help="What was decided and why.", show_default=False)] = None,
    by: ByOption = None,
    case: CaseOption = None,
) -> None:
    """Record a decision on a finding: its status and a note, with who and when.

    Decisions are kept in order and never changed: the latest is the finding's status,
    the earlier ones its history (`rpa show`). They survive re-scans, also when the
    finding goes stale.

    Example:

        rpa triage F3A9C0D12B45 --status confirmed --note "谈话核实，承认拉票" --by 李明
    """
    from analyzer.triage import check_status, triage as record

    check_status(status)
    with open_case(case) as con:
        d = record(con, finding_id, status, note, by)
    out.print(
        f"{d.finding_id} ({d.rule}, {d.subject}): {d.previous} → {d.status}, by {d.actor} at {d.decided_at}"
        + (" (a stale finding)" if d.stale else "") + f"; log entry {d.seq}",
        markup=False,
    )


@app.command()
@handle_errors
def suppress(
    rule: Annotated[Optional[str], typer.Option("--rule", metavar="ID", help="The rule whose findings to keep out.", show_default=False)] = None,
    subject: Annotated[Optional[str], typer.Option("--subject", metavar="P", help="The findings' subject, as `rpa findings` shows it (person id or account).", show_default=False)] = None,
    counterparty: Annotated[Optional[str], typer.Option("--counterparty", metavar="Q", help="Only findings with this counterparty among theirs.", show_default=False)] = None,
    until: Annotated[Optional[datetime], typer.Option("--until", formats=["%Y-%m-%d"], help="Last day the suppression applies (a scan on a later day ignores it).", show_default=False)] = None,
    why: Annotated[Optional[str], typer.Option("--why", metavar="TEXT", help="Why the pattern is legitimate.", show_default=False)] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the suppressions instead.")] = False,
    by: ByOption = None,
    case: CaseOption = None,
) -> None:
    """Keep a known-legitimate pattern (a family member, a payroll) out of the findings
    until a date, or list the suppressions.

    From the next scan, findings of the rule with this subject (and counterparty, if
    given) are stored marked suppressed and left out of `rpa findings` (see them with
    --suppressed). After the --until day it stops applying by itself.

    Example:

        rpa suppress --rule unreturned_gift --subject P0042 --counterparty P0107 --until 2026-12-31 --why "P0107 is his brother-in-law; family gifts"

        rpa suppress --list
    """
    from datetime import date as _date

    from analyzer.triage import list_suppressions
    from analyzer.triage import suppress as record

    if list_:
        with open_case(case, read_only=True) as con:
            rows = list_suppressions(con)
        if not rows:
            out.print("no suppressions")
            return
        table = Table(title="suppressions")
        for col in ("id", "rule", "subject", "counterparty", "until", "in force", "findings", "why", "by", "at"):
            table.add_column(col, justify="right" if col in ("id", "findings") else "left", overflow="fold")
        for r in rows:
            table.add_row(str(r["id"]), r["rule"], r["subject"], r["counterparty"] or "(any)", str(r["until"]),
                          "yes" if r["active"] else "expired", str(r["findings"]), r["why"], r["by"], str(r["at"]))
        out.print(table)
        return
    missing = [name for name, value in (("--rule", rule), ("--subject", subject), ("--until", until), ("--why", why)) if not value]
    if missing:
        names = missing[0] if len(missing) == 1 else f"{', '.join(missing[:-1])} and {missing[-1]}"
        raise RpaError(f"{names} {'is' if len(missing) == 1 else 'are'} required (or --list to list the suppressions)")
    from analyzer.rules import load_rules

    folder = find_case(case)
    known = set(load_rules(_rules_dirs(folder, None)))
    with open_case(case) as con:
        r = record(con, rule, subject, until.date(), why, counterparty, by, known_rules=known)
    who = r.subject + (f" with {r.counterparty}" if r.counterparty else "")
    out.print(f"suppression {r.suppression_id}: {r.rule} for {who} until {r.until}, by {r.actor}; log entry {r.seq}", markup=False)
    if r.until < _date.today():
        err.print(f"warning: {r.until} is past: this suppression will not apply", markup=False)
    else:
        out.print(f"{r.matches} current finding(s) match; the next `rpa scan` keeps them out", markup=False)


@app.command()
@handle_errors
def log(
    since: Annotated[Optional[datetime], typer.Option("--since", formats=["%Y-%m-%d"], help="Only entries on or after this day.", show_default=False)] = None,
    format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    case: CaseOption = None,
) -> None:
    """Show the audit log: every ingest, roster load, scan, triage decision and
    suppression, with time, who, what, and the entry's hash (chained to the one before;
    `rpa verify` checks the chain).

    Example:

        rpa log --since 2026-03-01

        rpa log --format json > audit.json
    """
    import json

    from analyzer.audit import log_entries, summary

    if format not in ("table", "json"):
        raise RpaError("--format must be table or json")
    with open_case(case, read_only=True) as con:
        entries = log_entries(con, since.date() if since else None)
    if format == "json":
        print(json.dumps(entries, ensure_ascii=False, indent=2))
        return
    if not entries:
        out.print("the log is empty" + (" from that day" if since else ""))
        return
    table = Table(title="audit log")
    for col in ("seq", "at", "by", "action", "what", "hash"):
        table.add_column(col, justify="right" if col == "seq" else "left", overflow="fold")
    for e in entries:
        table.add_row(str(e["seq"]), e["at"], e["actor"], e["action"], summary(e), e["hash"][:12])
    out.print(table)


@app.command()
@handle_errors
def verify(case: CaseOption = None) -> None:
    """Check the case's integrity: re-hash every ingested file still on disk against
    its SHA-256 at ingest, check every source's stored rows (sightings, rejects) and the
    findings against the digests logged when they were written (naming sightings and
    findings edited, deleted or inserted), derive the movements again from the
    sightings and the roster and name those stored otherwise, re-check the audit log's hash chain, check the
    triage decisions and suppressions against the log, and re-hash every report still
    where it was written against its manifest. Says what is intact, what changed and
    what is missing; exit 0 only when all is intact, else 1.

    Example:

        rpa verify --case ~/cases/guyun-2026
    """
    from analyzer.audit import verify_data, verify_log, verify_movements, verify_records, verify_reports, verify_sources

    # Not read-only: the movements are derived again in a copy of the case, made after a
    # checkpoint while this process holds it.
    with open_case(case) as con:
        sources = verify_sources(con)
        data = verify_data(con) + [verify_movements(con, find_case(case))]
        chain = verify_log(con)
        records = verify_records(con)
        reports = verify_reports(con)
    # A production of thousands of files: the intact ones counted, the others named.
    shown = [c for c in sources if c.state != "intact"] if len(sources) > MANY_FILES else sources
    for c in shown:
        out.print(f"source {c.source_id} {c.state}: {c.path}" + (f" ({c.detail})" if c.detail and c.state != "missing" else ""), markup=False)
    if len(shown) < len(sources):
        out.print(f"{len(sources) - len(shown):,} source files intact (their SHA-256 as ingested)", markup=False)
    if not sources:
        out.print("no sources ingested")
    intact_data = [d for d in data if d.state == "intact"]
    if intact_data:
        sources_ok = sum(d.what.startswith("source") for d in intact_data)
        findings_ok = next((d.detail for d in intact_data if d.what == "findings"), None)
        movements_ok = next((d.detail for d in intact_data if d.what == "movements"), None)
        parts = ([f"the rows of {sources_ok} source(s)"] if sources_ok else []) + ([f"findings: {findings_ok}"] if findings_ok else []) \
            + ([f"movements: {movements_ok}"] if movements_ok else [])
        out.print(f"evidence intact: {'; '.join(parts)}", markup=False)
    unrecorded = [d.what for d in data if d.state == "not recorded"]
    if unrecorded:  # an older case: say so once, not per source
        out.print(f"evidence not recorded for {', '.join(unrecorded[:10])}" + (f" and {len(unrecorded) - 10} more" if len(unrecorded) > 10 else "")
                  + ": written by an rpa that logged no digest", markup=False)
    for d in data:
        if d.state in ("intact", "not recorded"):
            continue
        if d.state == "not derived":
            out.print(f"{d.what}: {d.detail}", markup=False)
            continue
        out.print(f"{d.what} evidence {d.state}" + (f": {d.detail}" if d.detail else ""), markup=False)
        for change in d.changes[:50]:
            out.print(f"  {change}", markup=False)
        if len(d.changes) > 50:
            out.print(f"  … and {len(d.changes) - 50:,} more", markup=False)
    if chain.intact and not chain.entries:
        out.print("log intact: empty", markup=False)
    elif chain.intact:
        out.print(f"log intact: {chain.entries} entries; last entry {chain.head_seq}, hash {chain.head_hash}", markup=False)
    for _, problem in chain.problems:
        out.print(f"log broken: {problem}", markup=False)
    for problem in records:
        out.print(f"records: {problem}", markup=False)
    for r in reports:
        out.print(f"report {r.report_id} {r.state}: {r.path}" + (f" ({r.detail})" if r.detail else ""), markup=False)
    counts = {}
    for c in sources:
        counts[c.state] = counts.get(c.state, 0) + 1
    bad = [f"{n} {state}" for state, n in counts.items() if state != "intact"] + (["log broken"] if not chain.intact else [])
    bad += [f"{len(records)} decision/suppression record(s) not as logged"] if records else []
    changed_data = [d.what for d in data if d.state == "changed"]
    bad += [f"data changed ({', '.join(changed_data)})"] if changed_data else []
    changed_reports = sum(r.state == "changed" for r in reports)
    bad += [f"{changed_reports} report(s) changed"] if changed_reports else []
    if bad:
        out.print(f"NOT INTACT: {', '.join(bad)}; {counts.get('intact', 0)} of {len(sources)} sources intact", markup=False)
        raise typer.Exit(1)
    intact_reports = sum(r.state == "intact" for r in reports)
    out.print(f"all intact: {len(sources)} sources, {chain.entries} log entries, {intact_reports} reports", markup=False)


rules_app = typer.Typer(invoke_without_command=True, no_args_is_help=False)
app.add_typer(rules_app, name="rules")


@rules_app.callback()
@handle_errors
def rules_list(
    ctx: typer.Context,
    rules_dir: Annotated[Optional[list[Path]], typer.Option("--rules-dir", metavar="DIR", help="Also list the rules in this folder.", show_default=False)] = None,
) -> None:
    """List the rules with their titles and parameters.

    Example:

        rpa rules

        rpa rules show split_packets
    """
    if ctx.invoked_subcommand is not None:
        return
    from analyzer.rules import load_rules

    rules = load_rules(list(rules_dir or []))
    table = Table(title="rules")
    for col in ("id", "severity", "title", "parameters (default)"):
        table.add_column(col, overflow="fold")
    for r in rules.values():
        table.add_row(r.id, r.severity, f"{r.title_zh}\n{r.title}", "\n".join(f"{p.name}={p.default}" for p in r.params))
    out.print(table)


@rules_app.command("show")
@handle_errors
def rules_show(
    rule_id: Annotated[str, typer.Argument(help="The rule's id (file name without .sql).")],
    rules_dir: Annotated[Optional[list[Path]], typer.Option("--rules-dir", metavar="DIR", help="Also look in this folder.", show_default=False)] = None,
) -> None:
    """Print a rule's header (title, regulation, rationale, parameters) and its SQL.

    Example:

        rpa rules show election_mass_transfer
    """
    from analyzer.rules import load_rules

    rules = load_rules(list(rules_dir or []))
    if rule_id not in rules:
        raise RpaError(f"no rule {rule_id!r}: see `rpa rules`")
    print(rules[rule_id].path.read_text(encoding="utf-8"))


@app.command()
@handle_errors
def calendar(
    year: Annotated[Optional[int], typer.Option("--year", help="The year to list (default: this year).", show_default=False)] = None,
    case: CaseOption = None,
) -> None:
    """Print the festival seasons (built-in lunar calendar), statutory holidays, and the
    case's declared windows and events.

    Example:

        rpa calendar --year 2026
    """
    from datetime import date as _date

    from analyzer import calendar as cal
    from analyzer.config import Settings, load_settings

    year = year or _date.today().year
    if not 1990 <= year <= 2100:
        raise RpaError("--year must be between 1990 and 2100")
    try:
        settings = load_settings(find_case(case))
    except RpaError:
        settings = Settings()  # without a case: the built-in calendar alone
    from analyzer.scan import season_settings

    listing = cal.calendar_listing(year, season_settings(settings), settings.holidays or None, settings.workdays or None)
    table = Table(title=f"festival seasons {year}")
    for col in ("season", "festive", "from", "to", "festival days", "statutory holiday", "调休 workdays"):
        table.add_column(col, overflow="fold")
    for row in listing:
        if row["season"] is None:
            name = "other holidays"
        else:
            name = f"{row['season_zh']} {row['season_en']}"
        festivals = ", ".join(f"{f['name_zh']} {f['date']:%m-%d}" for f in row.get("festivals") or [])
        holidays = row.get("holidays")
        if isinstance(holidays, str):
            holiday_text = holidays
        else:
            holiday_text = ", ".join(
                f"{h['first']:%m-%d}–{h['last']:%m-%d} ({h['days']} d)" + (f" {'/'.join(h['names'])}" if row["season"] is None else "")
                for h in holidays or []
            )
        workdays = row.get("makeup_workdays")
        workday_text = workdays if isinstance(workdays, str) else ", ".join(f"{d:%m-%d}" for d in workdays or [])
        table.add_row(
            name, "" if row["season"] is None else ("yes" if row["festive"] else "no"),
            str(row["first"] or ""), str(row["last"] or ""), festivals, holiday_text, workday_text,
        )
    out.print(table)
    windows = [w for w in settings.windows if w.start.year <= year <= w.end.year]
    if windows:
        table = Table(title="windows (rpa.toml)")
        for col in ("name", "kind", "start", "end", "org_unit"):
            table.add_column(col)
        for w in windows:
            table.add_row(w.name, w.kind, str(w.start), str(w.end), w.org_unit or "")
        out.print(table)
    events = [e for e in settings.events if e.date.year == year]
    if events:
        table = Table(title="events (rpa.toml)")
        for col in ("person", "kind", "date", "± days"):
            table.add_column(col)
        for e in events:
            table.add_row(e.person_id, e.kind, str(e.date), str(e.days))
        out.print(table)


@app.command()
@handle_errors
def synth(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the world into (new or empty).", show_default=False)],
    people: Annotated[Optional[int], typer.Option("--people", help="Ordinary roster persons (default: from --movements); the planted cases' casts come on top.")] = None,
    days: Annotated[int, typer.Option("--days", help="Days the world spans.")] = 365,
    start: Annotated[str, typer.Option("--start", help="First day, YYYY-MM-DD.")] = "2025-01-01",
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed and options give the same files.")] = 1,
    format: Annotated[str, typer.Option("--format", help="canonical, wechat, alipay, tenpay or mixed.")] = "canonical",
    movements: Annotated[int, typer.Option("--movements", help="Target number of movements.")] = 20_000,
) -> None:
    """Write a synthetic world: exports in the real layouts, people.csv, relations.csv,
    rpa.toml and labels.csv (the planted cases of every rule, for `rpa backtest`).

    Example:

        rpa synth world --movements 100000 --format mixed --seed 7

        rpa init case && cp world/rpa.toml case/ && rpa roster world/people.csv --relations world/relations.csv --case case && rpa ingest world --case case && rpa scan --case case && rpa backtest world/labels.csv --case case
    """
    import time

    from analyzer import synth as synth_mod

    t0 = time.perf_counter()
    result = synth_mod.synth(synth_mod.Options(out_dir, people=people, days=days, start=synth_mod.parse_date(start), seed=seed,
                                               fmt=format, movements=movements))
    out.print(f"{result.movements:,} movements among {result.people:,} roster persons in {result.files:,} {format} file(s) "
              f"under {out_dir}; {result.cases} planted cases in labels.csv ({time.perf_counter() - t0:.1f} s)", markup=False)


@app.command()
@handle_errors
def demo(
    folder: Annotated[Optional[Path], typer.Argument(help="Case folder to make (default: a new folder under reports/).", show_default=False)] = None,
    lang: Annotated[str, typer.Option("--lang", help="Language of the report: zh or en.")] = "zh",
    by: ByOption = None,
) -> None:
    """Show what rpa does in one step: make a case, write the sample world into it
    (rpa synth), load its roster and settings, ingest its exports, scan, write the
    HTML report and list the findings.

    Example:

        rpa demo

        rpa demo ~/cases/demo
    """
    from analyzer.demo import default_dir, run_demo
    from analyzer.findings import list_findings

    folder = folder or default_dir()
    if lang not in ("zh", "en"):
        raise RpaError("--lang must be zh or en")
    result = run_demo(folder, actor=by, lang=lang, progress=lambda text: err.print(f"rpa demo: {text} …", markup=False))
    out.print(f"case {result.case}: {result.persons} persons on the roster; {result.files} export files in {result.data} "
              f"(WeChat bills, Alipay bills, a Tenpay production, canonical CSV) loaded as {result.movements:,} movements, "
              f"{result.duplicates:,} more sightings recognised as duplicates", markup=False)
    out.print(f"{result.findings} findings from {len(result.by_rule)} rules; the world has {result.cases} planted cases "
              f"({result.data / 'labels.csv'})", markup=False)
    with open_case(result.case, read_only=True) as con:
        rows = list_findings(con)
    table = Table(title="findings")
    for col in ("id", "rule", "severity", "subject", "amount", "reason"):
        table.add_column(col)
    for f in rows[:15]:
        table.add_row(f["id"], f["rule"], f["severity"], f["subject"], str(f["total_amount"]), (f.get("reason") or "")[:80])
    out.print(table)
    out.print(f"next: rpa findings --case {result.case} | rpa show ID --case {result.case} | "
              f"rpa backtest {result.data / 'labels.csv'} --case {result.case}", markup=False)
    out.print(f"the report: open {result.report.resolve().as_uri()} in a browser (it works offline)", markup=False)
    out.print(str(result.report.resolve()), markup=False)


@app.command()
@handle_errors
def backtest(
    labels: Annotated[Optional[Path], typer.Argument(help="Labels CSV: case_id, rule, subject, txn_ids (';'-separated).", show_default=False)] = None,
    triage: Annotated[bool, typer.Option("--triage", help="Use the case's triage decisions as labels (confirmed = true case, dismissed = false alarm).")] = False,
    min_share: Annotated[float, typer.Option("--min-share", help="A finding matches a case when it shares more than this share of the case's movements.")] = 0.5,
    format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    case: CaseOption = None,
) -> None:
    """Score the current findings against known cases: per rule and overall, cases found
    and missed, false alarms, precision, recall and F1, with every miss and false alarm.

    Example:

        rpa backtest labels.csv

        rpa backtest --triage --format json
    """
    import json

    from analyzer.backtest import backtest as run_backtest
    from analyzer.backtest import load_labels, triage_cases
    from analyzer.findings import list_findings
    from analyzer.triage import triage_labels

    if (labels is None) == (not triage):
        raise RpaError("give a labels CSV or --triage (one of them)")
    if format not in ("table", "json"):
        raise RpaError("--format must be table or json")
    if not 0 <= min_share < 1:
        raise RpaError("--min-share must be at least 0 and below 1")
    with open_case(case, read_only=True) as con:
        cases = load_labels(labels) if labels is not None else triage_cases(triage_labels(con))
        report = run_backtest(list_findings(con), cases, min_share=min_share, only_overlapping=triage)
    if format == "json":
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return
    pct = lambda v: "" if v is None else f"{v:.0%}"  # noqa: E731
    table = Table(title="backtest" + (" (triage labels)" if triage else f" ({labels.name})"))
    for col in ("rule", "cases", "found", "missed", "findings", "false alarms", "precision", "recall", "F1"):
        table.add_column(col, justify="left" if col == "rule" else "right")
    for s in [*report.rules, report.overall]:
        table.add_row(s.rule, str(s.cases), str(s.found), str(s.missed), str(s.findings), str(s.false_alarms),
                      pct(s.precision), pct(s.recall), pct(s.f1))
    out.print(table)
    for m in report.misses:
        out.print(f"missed {m['case']} ({m['rule']}, {m['subject']}): {m['reason']}", markup=False)
    for a in report.false_alarms:
        out.print(f"false alarm {a['finding']} ({a['rule']}, {a['subject']}): {a['reason']}", markup=False)


@app.command()
@handle_errors
def export(
    xlsx: Annotated[Optional[Path], typer.Option("--xlsx", metavar="PATH", help="Write findings and evidence to this XLSX file.", show_default=False)] = None,
    csv_dir: Annotated[Optional[Path], typer.Option("--csv", metavar="DIR", help="Write findings.csv and evidence.csv into this folder.", show_default=False)] = None,
    by: Annotated[Optional[str], typer.Option("--by", help="Who exports (audit log); default the OS user.", show_default=False)] = None,
    case: CaseOption = None,
) -> None:
    """Export every finding (stale and suppressed ones marked, a suppression with who,
    why and until) and their evidence movements, with the file, SHA-256 and line each
    came from, for the case file. The files and their audit entry are written whole or
    not at all. Cells that would start a
    spreadsheet formula (= + - @) are neutralised with a leading apostrophe.

    Example:

        rpa export --xlsx findings.xlsx

        rpa export --csv export/
    """
    from analyzer.export import export as write_export

    if xlsx is None and csv_dir is None:
        raise RpaError("give --xlsx PATH or --csv DIR")
    with open_case(case) as con:
        require_derived(con)
        written, n_findings, n_evidence = write_export(con, xlsx, csv_dir, by)
    for path in written:
        out.print(f"wrote {path}", markup=False)
    out.print(f"{n_findings} findings, {n_evidence} evidence rows")


@app.command()
@handle_errors
def report(
    out_dir: Annotated[Optional[Path], typer.Option("--out", metavar="DIR", help="Report folder (default: reports/report-<time>/ in the case). An earlier rpa report there is replaced.", show_default=False)] = None,
    lang: Annotated[str, typer.Option("--lang", help="Language of the labels: zh or en.")] = "zh",
    mask: Annotated[bool, typer.Option("--mask", help="Replace names, ids, accounts and units by stable pseudonyms; leave out memos and notes.")] = False,
    finding: Annotated[Optional[list[str]], typer.Option("--finding", metavar="ID", help="Only this finding (repeatable).", show_default=False)] = None,
    person: Annotated[Optional[list[str]], typer.Option("--person", metavar="ID", help="Only this person or account and its findings (repeatable).", show_default=False)] = None,
    by: ByOption = None,
    case: CaseOption = None,
) -> None:
    """Write the offline HTML report: a case overview, one page per finding and one per
    person with findings, with charts that open from file:// without any network. The
    case records the report's SHA-256 and the audit log its entry.

    Example:

        rpa report

        rpa report --out report-en --lang en --mask

        rpa report --finding F3A9C0D12B45 --person P0042
    """
    from analyzer.report import build_report

    folder = find_case(case)
    with open_case(folder, long_write="report") as con:
        require_derived(con)
        r = build_report(con, folder, out_dir, lang=lang, mask=mask, finding_ids=finding, person_ids=person, actor=by)
    out.print(
        f"{r.finding_pages} finding pages, {r.person_pages} person pages, {r.files} files, "
        f"{r.bytes / 1e6:.1f} MB{', masked' if r.masked else ''}; sha256 {r.sha256}",
        markup=False,
    )
    out.print(str(r.index), markup=False)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
