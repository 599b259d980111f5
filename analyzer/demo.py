"""`rpa demo`: show what rpa does in one step.

Makes a case, writes the sample world into it with rpa synth (the options the committed
sample_data/ was made with, so the data are the same; sample_data/ itself is not in the
wheel), loads the roster and settings, ingests the exports, scans, writes the report,
and says what it did and what was found, with the commands to try next.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path


@dataclass
class DemoResult:
    case: Path
    data: Path
    files: int
    movements: int
    duplicates: int
    persons: int
    findings: int
    by_rule: dict[str, int] = field(default_factory=dict)
    cases: int = 0
    report: Path | None = None


def default_dir() -> Path:
    """A new folder under reports/ (git-ignored), named after the time."""
    return Path("reports") / f"demo-{datetime.now():%Y%m%d-%H%M%S}"


def run_demo(folder: Path, actor: str | None = None, progress=None, lang: str = "zh") -> DemoResult:
    """init → synth (sample options) into folder/data → roster → rpa.toml → ingest → scan → report."""
    from analyzer import synth
    from analyzer.case import init_case, open_case
    from analyzer.config import load_settings
    from analyzer.errors import RpaError
    from analyzer.ingest import ingest_paths
    from analyzer.report import build_report
    from analyzer.roster import load_roster
    from analyzer.rules import load_rules, resolve_params
    from analyzer.scan import scan

    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise RpaError(f"{folder}: not empty; rpa demo makes a new case (give a new folder, or none)")
    say = progress or (lambda text: None)
    init_case(folder)
    data = folder / "data"
    say("writing the sample world (rpa synth)")
    made = synth.synth(synth.Options(data, **synth.SAMPLE_OPTIONS))
    shutil.copyfile(data / "rpa.toml", folder / "rpa.toml")
    with open_case(folder, long_write="roster") as con:
        say("loading the roster")
        roster = load_roster(con, data / "people.csv", data / "relations.csv", actor=actor)
    with open_case(folder, long_write="ingest") as con:
        say("ingesting the exports")
        results = ingest_paths(con, [data / sub for sub in ("wechat", "alipay", "tenpay", "canonical") if (data / sub).exists()], actor=actor)
    settings = load_settings(folder)
    rules = load_rules()
    params = resolve_params(rules, settings.rules, [])
    with open_case(folder, long_write="scan") as con:
        say("scanning")
        runs = scan(con, list(rules.values()), params, settings, actor=actor)
    with open_case(folder) as con:
        say("writing the report")
        report = build_report(con, folder, lang=lang, actor=actor)
    return DemoResult(
        case=folder, data=data, files=sum(1 for r in results if r.status == "loaded"),
        movements=sum(r.loaded for r in results),
        duplicates=sum(r.duplicate for r in results),
        persons=roster.persons,
        findings=sum(r.findings for r in runs), by_rule={r.rule.id: r.findings for r in runs if r.findings},
        cases=made.cases, report=report.index,
    )
