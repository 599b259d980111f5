"""Publishing a report: the folder built beside its target and renamed into place, its
manifest.json (every file with its SHA-256), the case's record of it (table `reports`)
and its audit entry — all or nothing.

`build_report` runs the four parts in order: collect (collect.py, SQL), mask (mask.py,
when asked), render (render.py, pages and figures), publish (here).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from analyzer.errors import RpaError
from analyzer.report.collect import MAX_FINDING_PAGES, collect
from analyzer.report.mask import mask as mask_data
from analyzer.report.mask import mask_key
from analyzer.report.render import CSS, TEXT, Renderer, dumps, finding_file, plotly_js

GENERATOR = "rpa report"  # manifest.json "generator": marks a folder as an rpa report


@dataclass
class ReportResult:
    """What `build_report` wrote."""

    folder: Path
    index: Path
    sha256: str  # of manifest.json
    files: int
    bytes: int
    findings: int  # findings in scope
    finding_pages: int
    person_pages: int
    masked: bool
    lang: str
    report_id: int = 0
    seq: int = 0  # its audit log entry


@dataclass
class _Files:
    """The report's files as they are written: relative path -> (sha256, bytes)."""

    root: Path
    written: dict[str, tuple[str, int]] = field(default_factory=dict)

    def write(self, rel: str, data: str | bytes) -> None:
        raw = data.encode("utf-8") if isinstance(data, str) else data
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)
        self.written[rel] = (hashlib.sha256(raw).hexdigest(), len(raw))


def _target(case_folder: Path, out: Path | None, now: datetime) -> tuple[Path, Path | None]:
    """(the report folder to make, an earlier rpa report there to replace or None)."""
    if out is None:
        # absolute: the case records the path, and `rpa verify` may run from elsewhere
        base = case_folder.expanduser().resolve() / "reports" / f"report-{now:%Y%m%d-%H%M%S}"
        target, n = base, 1
        while target.exists():
            n += 1
            target = base.with_name(f"{base.name}-{n}")
        return target, None
    target = Path(out).expanduser().resolve()
    if not target.exists():
        return target, None
    if not target.is_dir():
        raise RpaError(f"{target} exists and is not a folder: choose another --out")
    if not any(target.iterdir()):
        return target, target
    try:
        manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
        if isinstance(manifest, dict) and manifest.get("generator") == GENERATOR:
            return target, target
    except (OSError, ValueError):
        pass
    raise RpaError(f"{target} is not empty and holds no rpa report: choose another --out (an earlier report there is replaced)")


def build_report(
    con: duckdb.DuckDBPyConnection,
    case_folder: Path,
    out: Path | None = None,
    *,
    lang: str = "zh",
    mask: bool = False,
    finding_ids: list[str] | None = None,
    person_ids: list[str] | None = None,
    actor: str | None = None,
    max_finding_pages: int = MAX_FINDING_PAGES,
) -> ReportResult:
    """Write the report of the open case into `out` (default: the case's reports/<time>/)
    and record it in the case (table `reports`, audit log). Returns what was written.

    `finding_ids` / `person_ids` restrict the report to those findings and persons (and
    the findings whose subject they are); the charts then count only the movements that
    involve them."""
    from analyzer.audit import HEAD_KEY, append
    from analyzer.config import load_settings
    from analyzer.db import schema_version

    if lang not in TEXT:
        raise RpaError("--lang must be zh or en")
    now = datetime.now().replace(microsecond=0)
    settings = load_settings(case_folder)
    target, previous = _target(case_folder, out, now)

    key = None
    if mask:
        con.execute("BEGIN TRANSACTION")
        key = mask_key(con)
        con.execute("COMMIT")
    data = collect(con, settings, lang, now, finding_ids, person_ids, max_finding_pages)
    if key is not None:
        data = mask_data(data, key)
    renderer = Renderer(data)

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.partial-{secrets.token_hex(4)}"
    tmp.mkdir()
    old = None
    try:
        files = _Files(tmp)
        head = con.execute("SELECT value FROM meta WHERE key = ?", [HEAD_KEY]).fetchall()
        manifest = write_pages(renderer, files, schema_version(con), head[0][0] if head else None)
        manifest["files"] = [{"path": p, "sha256": s, "bytes": n} for p, (s, n) in sorted(files.written.items())]
        files.write("manifest.json", dumps(manifest) + "\n")
        digest, _ = files.written["manifest.json"]
        total = sum(n for _, n in files.written.values())
        result = ReportResult(target, target / "index.html", digest, len(files.written), total, data.total_findings,
                              len(data.shown), len(renderer.pages), key is not None, lang)
        con.execute("BEGIN TRANSACTION")
        try:
            result.report_id = con.execute("SELECT coalesce(max(report_id), 0) + 1 FROM reports").fetchall()[0][0]
            scope = data.scope
            con.execute(
                "INSERT INTO reports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [result.report_id, str(target), digest, now, lang, result.masked,
                 json.dumps(scope, ensure_ascii=False) if scope else None, result.files, total,
                 _actor(actor)],
            )
            result.seq = append(con, "report", {
                "report_id": result.report_id, "path": str(target), "sha256": digest, "lang": lang,
                "masked": result.masked, "scope": scope, "findings": result.findings,
                "finding_pages": result.finding_pages, "person_pages": result.person_pages,
                "files": result.files, "bytes": total,
            }, actor)
            # into place last, inside the transaction: if the rename fails, nothing is recorded
            if previous is not None:
                old = previous.parent / f".{previous.name}.old-{secrets.token_hex(4)}"
                os.replace(previous, old)
            try:
                os.replace(tmp, target)
            except OSError:
                if old is not None:
                    os.replace(old, previous)
                    old = None
                raise
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    except OSError as exc:
        raise RpaError(f"{target}: cannot write the report ({exc.strerror or exc})") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return result


def _actor(actor: str | None) -> str:
    from analyzer.audit import actor_name

    return actor_name(actor)




def write_pages(renderer: Renderer, files: _Files, schema: int, audit_head: str | None) -> dict:
    """Write every page and asset; returns the manifest (without its file list, which
    the caller adds: it would have to hold the index's own hash)."""
    manifest = renderer.manifest(schema, audit_head)
    files.write("assets/plotly.min.js", plotly_js())
    files.write("assets/report.css", CSS.lstrip())
    for f in renderer.d.shown:
        files.write(f"findings/{finding_file(f['id'])}", renderer.finding_page(f))
    for party, page in renderer.pages.items():
        files.write(f"persons/{page}", renderer.person_page(party))
    files.write("index.html", renderer.index_page(manifest))
    return dict(manifest)
