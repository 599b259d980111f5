"""The `rpa` command line: a thin layer over the core modules.

Each command parses its options, calls one core function and prints the result.
User mistakes (RpaError) become one line on stderr and an exit code, never a traceback.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
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
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

CaseOption = Annotated[
    Optional[Path],
    typer.Option("--case", envvar="RPA_CASE", help="Case folder to work on (default: the current folder; env RPA_CASE).", show_default=False),
]


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
) -> None:
    """Create a case: the DuckDB file rpa.duckdb and a commented rpa.toml.

    Example:

        rpa init ~/cases/guyun-2026
    """
    path, created = init_case(folder)
    if created:
        out.print(f"created case in {path} (rpa.duckdb, rpa.toml)")
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
    case: CaseOption = None,
) -> None:
    """Load export files into the case: WeChat Pay bills (CSV/XLSX), Alipay bills,
    Tenpay TenpayTrades.txt productions, rpa canonical CSV/Parquet.

    The layout is detected from the content. A movement seen in several exports (the
    payer's and the payee's) is stored once; a file ingested twice adds nothing.
    Rows that do not load are kept in the case with their line and reason
    (`rpa rejects`). Exit 0 when all loaded, 1 when rows were rejected, 2 when a file
    could not be read.

    Example:

        rpa ingest 微信支付账单流水文件(20260101-20260331).xlsx alipay_record_20260401.csv

        rpa ingest production/   # walks the folder, takes every export it recognises
    """
    from analyzer.ingest import ingest_paths

    with open_case(case) as con:
        show = sys.stderr.isatty()
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} files"),
            TimeElapsedColumn(), console=err, transient=True, disable=not show,
        ) as progress:
            task = progress.add_task("reading", total=None)

            def on_file(i: int, n: int, text: str) -> None:
                progress.update(task, completed=i, total=n, description=text[:60])

            results = ingest_paths(con, paths, format=format, owner=owner, on_file=on_file)

    table = Table(title="ingest", show_lines=False)
    for col in ("file", "format", "owner", "loaded", "duplicates", "rejected", "from", "to"):
        table.add_column(col, justify="right" if col in ("loaded", "duplicates", "rejected") else "left")
    notes = []
    for r in results:
        if r.status == "loaded":
            table.add_row(
                r.name.split("/")[-1], r.format, r.owner or "", str(r.loaded), str(r.duplicate), str(r.rejected),
                f"{r.first_ts:%Y-%m-%d}" if r.first_ts else "", f"{r.last_ts:%Y-%m-%d}" if r.last_ts else "",
            )
        else:
            notes.append(r)
    if table.row_count:
        out.print(table)
    for r in notes:
        (out if r.status in ("already",) or (r.status == "unknown" and "skipped" in r.message) else err).print(
            r.message, markup=False
        )
    loaded = sum(r.loaded for r in results)
    rejected = sum(r.rejected for r in results)
    out.print(
        f"{loaded} movements added, {sum(r.duplicate for r in results)} already known, {rejected} rows rejected"
        + (" (see `rpa rejects`)" if rejected else "")
    )
    failed = [r for r in results if r.status == "error" or (r.status == "unknown" and "skipped" not in r.message)]
    if failed:
        raise typer.Exit(2)
    if rejected:
        raise typer.Exit(1)


@app.command()
@handle_errors
def roster(
    people: Annotated[Path, typer.Argument(help="People CSV: person_id, name, accounts, party_member, official, org_unit, position, rank.")],
    relations: Annotated[
        Optional[Path],
        typer.Option("--relations", help="Relations CSV: person_id, other_id, relation (subordinate, service_object, family, colleague).", show_default=False),
    ] = None,
    case: CaseOption = None,
) -> None:
    """Load (replace) the roster: who is who, their accounts and aliases, and relations.

    Example:

        rpa roster people.csv --relations relations.csv
    """
    from analyzer.roster import load_roster

    with open_case(case) as con:
        r = load_roster(con, people, relations)
    out.print(
        f"roster loaded: {r.persons} persons, {r.aliases} aliases, {r.relations} relations; "
        f"{r.accounts_resolved} accounts in the data resolve to persons"
    )
    for a in r.ambiguous:
        err.print(f"warning: alias {a} is claimed by several persons; it resolves to nobody", markup=False)


@app.command()
@handle_errors
def people(case: CaseOption = None) -> None:
    """List persons with their aliases, accounts seen and how many movements each has.

    Example:

        rpa people
    """
    from analyzer.roster import list_people

    with open_case(case, read_only=True) as con:
        rows = list_people(con)
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
def status(case: CaseOption = None) -> None:
    """Say what the case holds: sources, movements, money, roster, rejects.

    Example:

        rpa status --case ~/cases/guyun-2026
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
    if s.by_kind:
        table = Table(title="movements by kind")
        for col in ("kind", "count", "amount"):
            table.add_column(col, justify="left" if col == "kind" else "right")
        for kind, n, amt in s.by_kind:
            table.add_row(kind, str(n), f"¥{amt:,.2f}")
        out.print(table)
    if s.source_rows:
        table = Table(title="sources")
        for col in ("id", "file", "format", "owner", "loaded", "dupl.", "rej.", "from", "to", "sha256"):
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


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
