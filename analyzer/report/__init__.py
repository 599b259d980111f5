"""`rpa report`: the investigator's offline HTML report.

A report is a folder of linked pages that open from file:// with no network at all:

    index.html              the case overview: key figures, sources with SHA-256, findings
                            by rule, severity and triage status, charts, the manifest
    findings/<id>.html      one page per finding: reason, figures against thresholds,
                            triage history, evidence, timeline, the subject's network
    persons/<token>.html    one page per person (or account) with findings
    assets/plotly.min.js    plotly.js from the installed plotly package, once
    assets/report.css
    manifest.json           provenance and every file's SHA-256

It is made in four parts, each readable alone:

    collect.py   the data: every query, aggregated in DuckDB, as plain values
    mask.py      masking (--mask): every identifying value in that data replaced by a
                 stable keyed pseudonym, free text withheld, before any text is built
    render.py    the pages and figures, from the (masked) data
    publish.py   the folder built beside its target and renamed into place, the
                 manifest, the case's record and audit entry (build_report)

`rpa verify` re-hashes recorded reports (audit.verify_reports).
"""

from analyzer.report.publish import GENERATOR, ReportResult, build_report

__all__ = ["GENERATOR", "ReportResult", "build_report"]
