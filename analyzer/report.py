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

Everything is aggregated in DuckDB; pages carry only aggregates and the evidence tables
(capped). Text from the data is HTML-escaped everywhere; page file names come from
finding ids (checked hex) or hashes, never from names in the data. `mask=True` replaces
names, ids, accounts, units, window names and transaction ids by stable keyed
pseudonyms (HMAC-SHA256, the key kept in the case) and leaves out memos and triage
notes (free text that can name anyone), so that a report can leave the office.

The folder is built next to its target and renamed into place: a report is written
whole or not at all. The case records each report (table `reports`: the SHA-256 of its
manifest.json, which lists every other file with its own SHA-256) and its audit entry.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import os
import re
import secrets
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path

import duckdb
import plotly.io as pio

from analyzer import __version__
from analyzer import figures as figs
from analyzer.errors import RpaError
from analyzer.findings import money
from analyzer.triage import CURRENT_DECISION, STATUSES

# Pages are written for the most severe findings first, at most this many (a case of
# millions of movements can hold hundreds of thousands of findings); the index counts
# them all and points to `rpa findings` / `rpa export` for the rest.
MAX_FINDING_PAGES = 150
# Rows of evidence shown on a finding page; the rest are in `rpa export`.
MAX_EVIDENCE_ROWS = 300
# Counterparties listed on a person page / drawn in an ego network.
TOP_COUNTERPARTIES = 30
EGO_NEIGHBOURS = 12
# The overview network: the subjects of this many findings, and this many edges.
NETWORK_SUBJECTS = 40
NETWORK_EDGES = 120
LARGEST_FLOWS = 20
SANKEY_LINKS = 40

MASK_KEY = "mask_key"  # meta key: hex HMAC key for pseudonyms, made on first --mask
GENERATOR = "rpa report"  # manifest.json "generator": marks a folder as an rpa report

# No request of any kind: only the report's own files (and inline code Plotly needs).
CSP = ("default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'none'; form-action 'none'; base-uri 'none'")
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
FINDING_ID = re.compile(r"F[0-9A-F]{11}")

TEXT = {
    "zh": {
        "title": "红包、转账分析报告", "overview": "概览", "back": "← 返回概览", "generated": "生成时间",
        "case": "案件", "masked_note": "脱敏报告：姓名、人员编号、账户、单位、窗口名称、交易单号与文件名均已替换为化名（同一案件内稳定）；备注与核查意见不显示。",
        "scope_note": "本报告仅包含所选线索、人员；图表只统计与其相关的资金往来。",
        "key_figures": "关键数字", "persons": "名单人员", "accounts": "账户", "movements": "资金往来（笔）",
        "money": "金额合计", "date_range": "时间范围", "duplicates": "合并的重复记录", "rejects": "未载入的行",
        "findings_total": "线索", "sources": "数据来源", "file": "文件", "files": "个文件（点击展开）", "format": "格式", "owner": "账户所有人",
        "loaded": "载入", "span": "起止", "by_rule": "线索（按规则、风险等级）", "rule": "规则", "high": "高",
        "medium": "中", "low": "低", "active": "有效", "suppressed": "已抑制", "stale": "已失效",
        "by_status": "核查状态", "status": "状态", "count": "数量", "findings": "线索", "severity": "风险",
        "score": "分值", "subject": "对象", "amount": "金额", "txn_count": "笔数", "window": "窗口",
        "shown_of": "列出最严重的{shown}条，共{total}条；全部线索见 rpa findings、rpa export。",
        "none": "无", "persons_with_findings": "涉及线索的人员", "charts": "图表", "largest_flows": "最大资金流向",
        "payer": "付款方", "payee": "收款方", "manifest": "报告清单（版本、规则、来源）", "version": "rpa 版本",
        "scans": "扫描", "rules_run": "运行的规则及参数", "sha256": "SHA-256", "params": "参数",
        "audit_head": "审计日志末条", "files_note": "报告每个文件的 SHA-256 见 manifest.json；案件记录 manifest.json 本身的 SHA-256。",
        "reason": "线索说明", "counterparties": "对方", "period": "时段", "figures": "指标与阈值", "figure": "指标",
        "value": "数值", "param": "参数", "description": "说明", "triage": "核查记录", "current": "当前状态",
        "note": "意见", "by": "决定人", "at": "时间", "scan": "扫描", "no_decisions": "尚无核查决定。",
        "evidence": "证据（资金往来）", "txn_id": "交易单号", "time": "时间", "kind": "类型", "channel": "渠道",
        "memo": "备注", "line": "行号", "evidence_more": "另有{n}笔未列出；完整证据见 rpa export。",
        "hidden": "（脱敏报告不显示）", "who": "基本信息", "name": "姓名", "person_id": "人员编号",
        "party_member": "党员", "official": "公职人员", "org_unit": "单位", "position": "职务", "rank": "职级",
        "yes": "是", "no": "否", "not_in_roster": "不在人员名单中：这是数据中出现的账户。", "relations": "关系",
        "aliases": "名单中的账户、昵称", "accounts_seen": "数据中的账户", "sent": "付出", "received": "收入",
        "relation": "关系", "role": "角色", "as_subject": "对象", "as_counterparty": "对方",
        "more_findings": "另有{n}条以其为对象的线索未单独成页，见 rpa findings。", "counterparty": "对方",
        "is_of": "{a} 是 {b} 的{rel}", "stale_badge": "已失效：最近一次扫描未再给出（证据与核查记录保留）",
        "suppressed_badge": "已抑制：有效的抑制规则匹配", "no_data": "没有资金往来。", "network": "关系网络",
        "timeline": "往来时间线", "person_page": "人员", "account_page": "账户", "generated_by": "由 rpa {v} 生成",
        "status_new": "新线索", "status_reviewing": "核查中", "status_confirmed": "属实", "status_dismissed": "排除",
        "status_escalated": "已移送",
        "rel_subordinate": "下属", "rel_service_object": "管理服务对象", "rel_family": "家属", "rel_colleague": "同事",
        "p_person": "人员", "p_account": "账户", "p_unit": "单位", "p_window": "窗口", "p_txn": "交易", "p_file": "文件",
        "p_actor": "核查人",
    },
    "en": {
        "title": "Red-packet and transfer analysis report", "overview": "Overview", "back": "← Overview",
        "generated": "Generated", "case": "Case",
        "masked_note": "Masked report: names, person ids, accounts, units, window names, transaction ids and file names are replaced by pseudonyms (stable within the case); memos and triage notes are left out.",
        "scope_note": "This report holds only the chosen findings and persons; its charts count only the movements that involve them.",
        "key_figures": "Key figures", "persons": "Persons in the roster", "accounts": "Accounts",
        "movements": "Movements", "money": "Money moved", "date_range": "Date range", "duplicates": "Duplicates merged",
        "rejects": "Rows rejected", "findings_total": "Findings", "sources": "Sources", "file": "File", "files": "files (click to show)",
        "format": "Format", "owner": "Account holder", "loaded": "Loaded", "span": "From – to",
        "by_rule": "Findings by rule and severity", "rule": "Rule", "high": "high", "medium": "medium", "low": "low",
        "active": "active", "suppressed": "suppressed", "stale": "stale", "by_status": "Triage status",
        "status": "Status", "count": "Count", "findings": "Findings", "severity": "Severity", "score": "Score",
        "subject": "Subject", "amount": "Amount", "txn_count": "Movements", "window": "Window",
        "shown_of": "The {shown} most severe of {total} findings; all of them: rpa findings, rpa export.",
        "none": "none", "persons_with_findings": "Persons with findings", "charts": "Charts",
        "largest_flows": "Largest flows", "payer": "Payer", "payee": "Payee",
        "manifest": "Manifest (version, rules, sources)", "version": "rpa version", "scans": "Scans",
        "rules_run": "Rules run and their parameters", "sha256": "SHA-256", "params": "Parameters",
        "audit_head": "Audit log head",
        "files_note": "Every file's SHA-256 is in manifest.json; the case records the SHA-256 of manifest.json itself.",
        "reason": "Reason", "counterparties": "Counterparties", "period": "Span", "figures": "Figures and thresholds",
        "figure": "Figure", "value": "Value", "param": "Parameter", "description": "Description",
        "triage": "Triage", "current": "Current status", "note": "Note", "by": "By", "at": "At", "scan": "Scan",
        "no_decisions": "No decision yet.", "evidence": "Evidence (movements)", "txn_id": "Transaction id",
        "time": "Time", "kind": "Kind", "channel": "Channel", "memo": "Memo", "line": "Line",
        "evidence_more": "{n} more not listed; all evidence: rpa export.", "hidden": "(not in a masked report)",
        "who": "Who", "name": "Name", "person_id": "Person id", "party_member": "Party member",
        "official": "Official", "org_unit": "Org unit", "position": "Position", "rank": "Rank", "yes": "yes",
        "no": "no", "not_in_roster": "Not in the roster: an account seen in the data.", "relations": "Relations",
        "aliases": "Accounts and nicknames in the roster", "accounts_seen": "Accounts in the data", "sent": "Sent",
        "received": "Received", "relation": "Relation", "role": "Role", "as_subject": "subject",
        "as_counterparty": "counterparty", "more_findings": "{n} more findings with this subject have no page: rpa findings.",
        "counterparty": "Counterparty", "is_of": "{a} is {b}'s {rel}",
        "stale_badge": "Stale: the latest scan of its rule no longer gives it (evidence and decisions kept)",
        "suppressed_badge": "Suppressed: a suppression in force matches it", "no_data": "No movements.",
        "network": "Network", "timeline": "Movements over time", "person_page": "Person", "account_page": "Account",
        "generated_by": "Generated by rpa {v}",
        "status_new": "new", "status_reviewing": "reviewing", "status_confirmed": "confirmed",
        "status_dismissed": "dismissed", "status_escalated": "escalated",
        "rel_subordinate": "subordinate", "rel_service_object": "service object", "rel_family": "family member",
        "rel_colleague": "colleague",
        "p_person": "Person", "p_account": "Account", "p_unit": "Unit", "p_window": "Window", "p_txn": "Txn",
        "p_file": "File", "p_actor": "Reviewer",
    },
}

CSS = """
:root { --fg: #222; --muted: #666; --line: #ddd; --bg: #fafafa; --accent: #8b1a1a; }
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC", "Hiragino Sans GB",
       "WenQuanYi Micro Hei", "Noto Sans", sans-serif; color: var(--fg); margin: 0; background: white; line-height: 1.5; }
header { background: var(--accent); color: white; padding: 14px 28px; }
header a { color: #fde; }
header h1 { margin: 4px 0; font-size: 22px; }
main { padding: 8px 28px 40px; max-width: 1400px; }
h2 { border-bottom: 2px solid var(--accent); padding-bottom: 4px; margin-top: 32px; font-size: 18px; }
h3 { font-size: 15px; margin-top: 20px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: var(--bg); }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.mono, span.mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; word-break: break-all; }
.figures > div { width: 100%; margin-bottom: 12px; border-bottom: 1px solid #f0f0f0; }
.kpi { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; }
.kpi div { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; background: var(--bg); min-width: 120px; }
.kpi b { display: block; font-size: 20px; }
.kpi span { color: var(--muted); font-size: 12px; }
.badge { display: inline-block; padding: 1px 7px; border-radius: 10px; font-size: 12px; margin-right: 4px; background: #eee; }
.sev-high { background: #c0392b; color: white; } .sev-medium { background: #e67e22; color: white; } .sev-low { background: #f1c40f; }
.stale { background: #999; color: white; } .suppressed { background: #7f8c8d; color: white; } .masked { background: #2c3e50; color: white; }
.note { color: var(--muted); font-size: 13px; }
.reason { font-size: 15px; background: #fff8e6; border-left: 4px solid #f0ad00; padding: 8px 12px; }
pre { background: var(--bg); border: 1px solid var(--line); padding: 8px; font-size: 12px; overflow-x: auto; white-space: pre-wrap; }
footer { color: var(--muted); font-size: 12px; padding: 12px 28px; border-top: 1px solid var(--line); }
"""


class Markup(str):
    """HTML we built ourselves (links, badges): the one kind of text not escaped again."""


def e(value: object) -> str:
    """Escape any text for HTML (element content and quoted attributes)."""
    if isinstance(value, Markup):
        return value
    return html.escape("" if value is None else str(value), quote=True)


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


# --------------------------------------------------------------------------- masking


def mask_key(con: duckdb.DuckDBPyConnection) -> bytes:
    """The case's pseudonym key, made (random, 32 bytes) on first use and kept in `meta`."""
    row = con.execute("SELECT value FROM meta WHERE key = ?", [MASK_KEY]).fetchall()
    if row:
        return bytes.fromhex(row[0][0])
    key = secrets.token_bytes(32)
    con.execute("INSERT INTO meta VALUES (?, ?)", [MASK_KEY, key.hex()])
    return key


class Names:
    """How parties, units, windows, ids and free text appear in a report: as they are,
    or (masked) as stable pseudonyms `人员-3f9a2c1d` keyed by the case's HMAC key."""

    def __init__(self, persons: dict[str, tuple], lang: str, key: bytes | None):
        self.persons = persons  # person_id -> (name, party_member, official, org_unit, position, rank)
        self.t = TEXT[lang]
        self.key = key
        self.masked = key is not None
        self._scrub: dict[str, str] = {}
        self._lengths: list[int] = []

    def token(self, kind: str, value: object, n: int = 8) -> str:
        return hmac.new(self.key, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()[:n]

    def pseudonym(self, kind: str, value: object) -> str:
        return f"{self.t['p_' + kind]}-{self.token(kind, value)}"

    def party(self, key: str | None) -> str:
        """A person (name and id) or an account."""
        if key is None or key == "":
            return "—"
        if key in self.persons:
            if self.masked:
                return self.pseudonym("person", key)
            name = self.persons[key][0]
            return f"{name}（{key}）" if name else key
        return self.pseudonym("account", key) if self.masked else key

    def person_id(self, pid: str) -> str:
        return self.pseudonym("person", pid) if self.masked else pid

    def account(self, account: str | None) -> str:
        if not account:
            return ""
        return self.pseudonym("account", account) if self.masked else account

    def unit(self, unit: str | None) -> str | None:
        if not unit:
            return unit
        return self.pseudonym("unit", unit) if self.masked else unit

    def window(self, name: str | None) -> str | None:
        if not name:
            return name
        return self.pseudonym("window", name) if self.masked else name

    def txn(self, txn_id: str | None) -> str:
        if not txn_id:
            return ""
        return self.pseudonym("txn", txn_id) if self.masked else txn_id

    def actor(self, actor: str | None) -> str:
        return self.pseudonym("actor", actor) if self.masked and actor else (actor or "")

    def free(self, text: str | None) -> str:
        """Free text the data holds (memos, triage notes): left out of a masked report."""
        if self.masked:
            return Markup(f'<span class="note">{e(self.t["hidden"])}</span>')
        return text or ""

    def page(self, party: str) -> str:
        """A person page's file name: a hash, never the id or a name from the data."""
        if self.masked:
            return f"{self.token('page', party, 16)}.html"
        return hashlib.sha256(f"page\x00{party}".encode()).hexdigest()[:16] + ".html"

    # Free text built from the data (a finding's reason, its figures) names people: in a
    # masked report every name, alias, id, account, unit and window known to the report
    # is replaced, longest first, in one pass (a pseudonym is never scanned again).
    def add_scrub(self, value: str | None, replacement: str) -> None:
        if value and len(value) >= 2 and value not in self._scrub:
            self._scrub[value] = replacement

    def finish_scrub(self) -> None:
        self._lengths = sorted({len(k) for k in self._scrub}, reverse=True)

    def text(self, value: object) -> str:
        """Text built from the data, scrubbed of names when masked."""
        text = "" if value is None else str(value)
        if not self.masked or not self._lengths:
            return text
        out, i, n = [], 0, len(text)
        while i < n:
            for length in self._lengths:
                if i + length <= n and text[i:i + length] in self._scrub:
                    out.append(self._scrub[text[i:i + length]])
                    i += length
                    break
            else:
                out.append(text[i])
                i += 1
        return "".join(out)


# --------------------------------------------------------------------------- helpers


def _finding_file(fid: str) -> str:
    """findings/<id>.html; an id that is not the scan's own hex form is hashed."""
    if FINDING_ID.fullmatch(fid):
        return f"{fid}.html"
    return "F" + hashlib.sha256(fid.encode("utf-8")).hexdigest()[:16] + ".html"


def _table(headers: list[str], rows: list[list], num: set[int] = frozenset(), mono: set[int] = frozenset(),
           cls: str = "") -> str:
    """An HTML table; every cell is escaped unless it is Markup."""
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            c = ' class="num"' if i in num else ' class="mono"' if i in mono else ""
            cells.append(f"<td{c}>{e(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="{e(cls)}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _link(href: str, text: object) -> Markup:
    return Markup(f'<a href="{e(href)}">{e(text)}</a>')


def _ts(value: datetime | date | None) -> str:
    if value is None:
        return ""
    return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()


def _fig(fig, div_id: str) -> Markup:
    """A figure as a div and the inline call that draws it (plotly.js comes from assets/)."""
    return Markup(pio.to_html(fig, include_plotlyjs=False, include_mathjax=False, full_html=False, div_id=div_id,
                              config=PLOTLY_CONFIG, validate=False))


def _plotly_js() -> bytes:
    """plotly.min.js as the installed plotly package ships it."""
    packaged = resources.files("plotly") / "package_data" / "plotly.min.js"
    if packaged.is_file():
        return packaged.read_bytes()
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().encode("utf-8")


def _json_value(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return _ts(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def _dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=1, sort_keys=True, default=_json_value)


def _seasons(settings, first: date, last: date, lang: str) -> list[dict]:
    """Festive seasons over the data's years as spans {name, start, end}."""
    from analyzer import calendar
    from analyzer.scan import season_settings

    lo, hi = max(first.year, 1990), min(last.year, 2100)
    if lo > hi:
        return []
    try:
        days = calendar.festive_days(lo, hi, season_settings(settings), settings.holidays or None, settings.workdays or None)
    except ValueError as exc:
        raise RpaError(f"rpa.toml [calendar]/[holidays]: {exc}") from None
    spans: list[dict] = []
    open_span: dict[str, dict] = {}
    for d in days:
        span = open_span.get(d.season)
        if span and span["end"] + timedelta(days=1) == d.date:
            span["end"] = d.date
            continue
        name = d.season_zh if lang == "zh" else d.season_en
        span = {"name": f"{name} {d.season_year}", "start": d.date, "end": d.date}
        open_span[d.season] = span
        spans.append(span)
    return [s for s in spans if s["end"] >= first and s["start"] <= last]


def _rule_info(settings) -> dict:
    """Rule id -> Rule, for titles and parameter descriptions (the library and the case's rules_dir)."""
    from analyzer.rules import load_rules

    try:
        return load_rules([settings.rules_dir] if settings.rules_dir else [])
    except RpaError:
        try:
            return load_rules([])
        except RpaError:
            return {}


# --------------------------------------------------------------------------- the report


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
    builder = _Builder(con, settings, lang, key, now)
    builder.choose(finding_ids, person_ids, max_finding_pages)

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.partial-{secrets.token_hex(4)}"
    tmp.mkdir()
    old = None
    try:
        files = _Files(tmp)
        head = con.execute("SELECT value FROM meta WHERE key = ?", [HEAD_KEY]).fetchall()
        builder.write(files, schema_version(con), head[0][0] if head else None)
        manifest = dict(builder.manifest_data)
        manifest["files"] = [{"path": p, "sha256": s, "bytes": n} for p, (s, n) in sorted(files.written.items())]
        files.write("manifest.json", _dumps(manifest) + "\n")
        digest, _ = files.written["manifest.json"]
        total = sum(n for _, n in files.written.values())
        result = ReportResult(target, target / "index.html", digest, len(files.written), total, builder.total_findings,
                              len(builder.shown), len(builder.pages), key is not None, lang)
        con.execute("BEGIN TRANSACTION")
        try:
            result.report_id = con.execute("SELECT coalesce(max(report_id), 0) + 1 FROM reports").fetchall()[0][0]
            scope = builder.scope_json()
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


class _Builder:
    """Collects the report's data (aggregated in DuckDB) and renders its pages."""

    def __init__(self, con, settings, lang: str, key: bytes | None, now: datetime):
        self.con, self.settings, self.lang, self.now = con, settings, lang, now
        self.t = TEXT[lang]
        persons = {r[0]: r[1:] for r in con.execute(
            "SELECT person_id, name, party_member, official, org_unit, position, rank FROM persons").fetchall()}
        self.names = Names(persons, lang, key)
        self.rules = _rule_info(settings)
        self.windows = {w.name: w for w in settings.windows}

    # ----------------------------------------------------------------- scope

    def choose(self, finding_ids, person_ids, max_pages: int) -> None:
        """Which findings and persons the report is about, and which get pages."""
        con = self.con
        self.finding_ids = sorted({f.strip().upper() for f in finding_ids or [] if f.strip()})
        self.person_ids = list(dict.fromkeys(p.strip() for p in person_ids or [] if p.strip()))
        self.restricted = bool(self.finding_ids or self.person_ids)
        for fid in self.finding_ids:
            if not con.execute("SELECT count(*) FROM findings WHERE id = ?", [fid]).fetchall()[0][0]:
                raise RpaError(f"no finding {fid!r}: see `rpa findings --stale --suppressed`")
        for pid in self.person_ids:
            known = con.execute(
                """SELECT (SELECT count(*) FROM persons WHERE person_id = $p) + (SELECT count(*) FROM findings WHERE subject = $p)
                          + (SELECT count(*) FROM accounts WHERE account = $p)""", {"p": pid}).fetchall()[0][0]
            if not known:
                raise RpaError(f"no person or account {pid!r} in the case: see `rpa people`")
        con.execute("CREATE OR REPLACE TEMP TABLE report_findings (id VARCHAR, ord INTEGER)")
        # Every finding in scope, in `rpa findings` order: active, then suppressed, then
        # stale; most severe first. (Suppressed: a suppression in force today matched it.)
        con.execute(
            """
            INSERT INTO report_findings
            SELECT f.id, row_number() OVER (ORDER BY f.stale, coalesce($today <= s.until, false),
                   CASE f.severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END, f.score DESC, f.rule, f.start_ts, f.id)
            FROM findings f LEFT JOIN suppressions s ON s.suppression_id = f.suppressed_by
            WHERE NOT $restricted OR list_contains($fids, f.id) OR list_contains($pids, f.subject)
            """,
            {"today": self.now.date(), "restricted": self.restricted, "fids": self.finding_ids, "pids": self.person_ids},
        )
        self.total_findings = con.execute("SELECT count(*) FROM report_findings").fetchall()[0][0]
        from analyzer.findings import list_findings

        top = [r[0] for r in con.execute("SELECT id FROM report_findings ORDER BY ord LIMIT ?", [max_pages]).fetchall()]
        order = {fid: i for i, fid in enumerate(top)}
        found = list_findings(con, lang=self.lang, include_stale=True, include_suppressed=True, finding_ids=top,
                              today=self.now.date()) if top else []
        self.shown = sorted(found, key=lambda f: order[f["id"]])
        # pages: the subjects of the findings shown, and the persons asked for
        self.pages: dict[str, str] = {}
        for party in [*self.person_ids, *(f["subject"] for f in self.shown)]:
            self.pages.setdefault(party, self.names.page(party))
        con.execute("CREATE OR REPLACE TEMP TABLE report_focus AS SELECT unnest($p::VARCHAR[]) AS party",
                    {"p": list(self.pages)})
        where = ""
        if self.restricted:
            where = """WHERE coalesce(payer_person, payer) IN (SELECT party FROM report_focus)
                          OR coalesce(payee_person, payee) IN (SELECT party FROM report_focus)"""
        con.execute(
            f"""CREATE OR REPLACE TEMP VIEW report_mv AS
                SELECT id, txn_id, ts, amount, kind, status, payer, payee, payer_person, payee_person,
                       coalesce(payer_person, payer) AS payer_party, coalesce(payee_person, payee) AS payee_party
                FROM movements {where}"""
        )

    def scope_json(self) -> dict | None:
        if not self.restricted:
            return None
        return {"findings": self.finding_ids, "persons": self.person_ids}

    # ----------------------------------------------------------------- data

    def _rows(self, sql: str, params=None) -> list[tuple]:
        return self.con.execute(sql, params or {}).fetchall()

    def collect(self) -> None:
        """Run the aggregate queries (set-wise, a handful of scans of the movements)."""
        q = self._rows
        self.key_figures = q("SELECT count(*), coalesce(sum(amount), 0), min(ts), max(ts) FROM report_mv")[0]
        self.case_counts = q(
            """SELECT (SELECT count(*) FROM persons), (SELECT count(*) FROM accounts), (SELECT count(*) FROM duplicates),
                      (SELECT count(*) FROM rejects)""")[0]
        self.sources = q(
            """SELECT source_id, name, format, owner, rows_loaded, first_ts, last_ts, sha256, size, path, ingested_at
               FROM sources ORDER BY source_id""")
        self.by_rule = q(
            """SELECT f.rule,
                      count(*) FILTER (WHERE NOT f.stale AND NOT coalesce($today <= s.until, false) AND f.severity = 'high'),
                      count(*) FILTER (WHERE NOT f.stale AND NOT coalesce($today <= s.until, false) AND f.severity = 'medium'),
                      count(*) FILTER (WHERE NOT f.stale AND NOT coalesce($today <= s.until, false) AND f.severity = 'low'),
                      count(*) FILTER (WHERE NOT f.stale AND coalesce($today <= s.until, false)),
                      count(*) FILTER (WHERE f.stale)
               FROM report_findings r JOIN findings f ON f.id = r.id
               LEFT JOIN suppressions s ON s.suppression_id = f.suppressed_by
               GROUP BY f.rule ORDER BY f.rule""", {"today": self.now.date()})
        self.by_status = dict(q(
            f"""WITH decision AS ({CURRENT_DECISION})
                SELECT coalesce(d.status, 'new'), count(*) FROM report_findings r LEFT JOIN decision d ON d.finding_id = r.id
                GROUP BY 1"""))
        first, last = self.key_figures[2], self.key_figures[3]
        self.daily = [{"day": d, "amount": a, "count": n} for d, a, n in q(
            "SELECT CAST(ts AS DATE), sum(amount), count(*) FROM report_mv WHERE ts IS NOT NULL GROUP BY 1 ORDER BY 1")]
        self.season_spans = _seasons(self.settings, first.date(), last.date(), self.lang) if first and last else []
        self.bins = [{"bin": b, "count": n} for b, n in q(
            f"""SELECT CAST(floor(log10(amount) * {figs.BINS_PER_DECADE}) AS INTEGER) AS b, count(*) FROM report_mv
                WHERE amount > 0 GROUP BY b ORDER BY b""")]
        self.customary = [{"amount": a, "count": n} for a, n in q(
            "SELECT amount, count(*) FROM report_mv WHERE list_contains($a, amount) GROUP BY 1 ORDER BY 1",
            {"a": list(figs.CUSTOMARY_AMOUNTS)})]
        self.heat = [{"weekday": w, "hour": h, "count": n} for w, h, n in q(
            "SELECT isodow(ts), hour(ts), count(*) FROM report_mv WHERE ts IS NOT NULL GROUP BY ALL")]
        self.flows = q(
            """SELECT payer_party, payee_party, sum(amount) AS total, count(*) FROM report_mv
               WHERE payer_party IS NOT NULL AND payee_party IS NOT NULL AND payer_party <> payee_party
               GROUP BY ALL ORDER BY total DESC, payer_party, payee_party LIMIT $n""", {"n": LARGEST_FLOWS})
        # the overview network: persons only, around the subjects of the first findings
        subjects = list(dict.fromkeys(f["subject"] for f in self.shown if f["subject"] in self.names.persons))[:NETWORK_SUBJECTS]
        self.network_edges = q(
            """SELECT payer_person, payee_person, sum(amount) AS total, count(*) FROM report_mv
               WHERE payer_person IS NOT NULL AND payee_person IS NOT NULL AND payer_person <> payee_person
                 AND (len($s) = 0 OR list_contains($s, payer_person) OR list_contains($s, payee_person))
               GROUP BY ALL ORDER BY total DESC, payer_person, payee_person LIMIT $n""",
            {"s": subjects, "n": NETWORK_EDGES})
        self.network_subjects = subjects
        self.sankey = q(
            """SELECT pa.org_unit, pb.org_unit, sum(m.amount) AS total, count(*) FROM report_mv m
               LEFT JOIN persons pa ON pa.person_id = m.payer_person LEFT JOIN persons pb ON pb.person_id = m.payee_person
               WHERE m.payer_party IS NOT NULL AND m.payee_party IS NOT NULL
                 -- between units: money inside one unit (or among outsiders) would drown it
                 AND pa.org_unit IS DISTINCT FROM pb.org_unit
               GROUP BY ALL ORDER BY total DESC, 1, 2 LIMIT $n""", {"n": SANKEY_LINKS})
        self._collect_pages()

    def _collect_pages(self) -> None:
        """Data of the finding and person pages, for all of them at once."""
        q = self._rows
        ids = [f["id"] for f in self.shown]
        self.evidence: dict[str, list[tuple]] = defaultdict(list)
        self.evidence_total: dict[str, int] = {}
        for row in q(
            """SELECT f.id, t.txn_id, t.ts, coalesce(t.payer_person, t.payer), coalesce(t.payee_person, t.payee),
                      t.amount, t.kind, t.status, t.channel, t.memo, t.source_id, s.name, t.line, t.payer, t.payee,
                      t.payer_name, t.payee_name, count(*) OVER (PARTITION BY f.id) AS n,
                      row_number() OVER (PARTITION BY f.id ORDER BY t.ts, t.id) AS rn
               FROM findings f, unnest(f.evidence) AS e(tid)
               JOIN transactions t ON t.id = e.tid JOIN sources s ON s.source_id = t.source_id
               WHERE list_contains($ids, f.id)
               QUALIFY rn <= $cap ORDER BY f.id, rn""", {"ids": ids, "cap": MAX_EVIDENCE_ROWS}):
            self.evidence[row[0]].append(row)
            self.evidence_total[row[0]] = row[17]
        self.history: dict[str, list[tuple]] = defaultdict(list)
        for row in q("""SELECT finding_id, status, note, actor, decided_at, scan_id FROM triage
                        WHERE list_contains($ids, finding_id) ORDER BY triage_id""", {"ids": ids}):
            self.history[row[0]].append(row[1:])
        # counterparties of every page's party (both directions), the largest first
        self.counterparties: dict[str, list[tuple]] = defaultdict(list)
        for row in q(
            """WITH legs AS (
                   SELECT payer_party AS party, payee_party AS other, amount AS sent, CAST(0 AS DECIMAL(18,2)) AS received
                   FROM report_mv WHERE payer_party IN (SELECT party FROM report_focus) AND payee_party IS NOT NULL
                   UNION ALL
                   SELECT payee_party, payer_party, 0, amount
                   FROM report_mv WHERE payee_party IN (SELECT party FROM report_focus) AND payer_party IS NOT NULL
               )
               SELECT party, other, sum(sent) AS s, sum(received) AS r, count(*) FROM legs WHERE party <> other
               GROUP BY party, other QUALIFY row_number() OVER (PARTITION BY party ORDER BY s + r DESC, other) <= $n
               ORDER BY party, s + r DESC, other""", {"n": TOP_COUNTERPARTIES}):
            self.counterparties[row[0]].append(row[1:])
        # edges among each ego network's members (the party and its largest counterparties)
        members = {p: [p, *(c[0] for c in cps[:EGO_NEIGHBOURS])] for p, cps in self.counterparties.items()}
        everyone = sorted({m for ms in members.values() for m in ms})
        self.con.execute("CREATE OR REPLACE TEMP TABLE report_ego AS SELECT unnest($p::VARCHAR[]) AS party", {"p": everyone})
        self.edges_from: dict[str, list[tuple]] = defaultdict(list)
        for a, b, total, n in q(
            """SELECT payer_party, payee_party, sum(amount), count(*) FROM report_mv
               WHERE payer_party IN (SELECT party FROM report_ego) AND payee_party IN (SELECT party FROM report_ego)
                 AND payer_party <> payee_party GROUP BY ALL"""):
            self.edges_from[a].append((b, total, n))
        self.ego_members = members
        self.person_days: dict[str, list[dict]] = defaultdict(list)
        for party, day, sent, received in q(
            """SELECT party, day, sum(sent), sum(received) FROM (
                   SELECT payer_party AS party, CAST(ts AS DATE) AS day, amount AS sent, CAST(0 AS DECIMAL(18,2)) AS received
                   FROM report_mv WHERE payer_party IN (SELECT party FROM report_focus)
                   UNION ALL
                   SELECT payee_party, CAST(ts AS DATE), 0, amount FROM report_mv WHERE payee_party IN (SELECT party FROM report_focus)
               ) WHERE day IS NOT NULL GROUP BY ALL ORDER BY party, day"""):
            self.person_days[party].append({"day": day, "sent": sent, "received": received})
        self.accounts_seen: dict[str, list[tuple]] = defaultdict(list)
        for pid, account, n in q(
            """SELECT person_id, account, count(*) AS n FROM (
                   SELECT payer_person AS person_id, payer AS account FROM movements WHERE payer_person IN (SELECT party FROM report_focus)
                   UNION ALL
                   SELECT payee_person, payee FROM movements WHERE payee_person IN (SELECT party FROM report_focus)
               ) GROUP BY ALL ORDER BY person_id, n DESC, account"""):
            self.accounts_seen[pid].append((account, n))
        self.aliases: dict[str, list[str]] = defaultdict(list)
        for pid, alias in q("""SELECT person_id, alias FROM person_accounts WHERE person_id IN (SELECT party FROM report_focus)
                               ORDER BY person_id, alias"""):
            self.aliases[pid].append(alias)
        self.relations = q(
            """SELECT person_id, other_id, relation FROM relations
               WHERE person_id IN (SELECT party FROM report_focus) OR other_id IN (SELECT party FROM report_focus)
               ORDER BY person_id, other_id, relation""")
        self.more_findings = dict(q(
            """SELECT f.subject, count(*) FROM report_findings r JOIN findings f ON f.id = r.id
               WHERE f.subject IN (SELECT party FROM report_focus) GROUP BY 1"""))
        self.scans = q(
            "SELECT scan_id, started_at, finished_at, window_scope, since, until, rules, findings, rpa_version FROM scans ORDER BY scan_id")
        if self.names.masked:
            self._scrub_list()

    def _scrub_list(self) -> None:
        """Everything that could name someone in free text, with its pseudonym."""
        n = self.names
        for pid, (name, *_rest) in n.persons.items():
            pseudo = n.party(pid)
            n.add_scrub(pid, pseudo)
            n.add_scrub(name, pseudo)
        for pid, alias in self._rows("SELECT person_id, alias FROM person_accounts"):
            n.add_scrub(alias, n.party(pid))
        for (unit,) in self._rows("SELECT DISTINCT org_unit FROM persons WHERE org_unit IS NOT NULL"):
            n.add_scrub(unit, n.unit(unit))
        for w in self.settings.windows:
            n.add_scrub(w.name, n.window(w.name))
            n.add_scrub(w.org_unit, n.unit(w.org_unit))
        for f in self.shown:
            n.add_scrub(f["subject"], n.party(f["subject"]))
            for c in f["counterparties"]:
                n.add_scrub(c, n.party(c))
        for rows in self.evidence.values():
            for r in rows:
                for account, name, party in ((r[13], r[15], r[3]), (r[14], r[16], r[4])):
                    n.add_scrub(account, n.party(party))
                    n.add_scrub(name, n.party(party))
                    n.add_scrub(party, n.party(party))
                n.add_scrub(r[1], n.txn(r[1]))
        for party, cps in self.counterparties.items():
            for c in cps:
                n.add_scrub(c[0], n.party(c[0]))
        for sid, name, _fmt, owner, *_rest in self.sources:
            n.add_scrub(owner, n.account(owner))
            n.add_scrub(name, f"{self.t['p_file']}-{sid}")
        n.finish_scrub()

    # ----------------------------------------------------------------- manifest

    def manifest(self, schema: int, audit_head: str | None) -> dict:
        """Provenance: rpa version, rules run with parameters and SQL hashes, input files."""
        n = self.names
        scans = []
        for scan_id, started, finished, scope, since, until, rules, count, version in self.scans:
            scans.append({
                "scan_id": scan_id, "started_at": started, "finished_at": finished,
                "scope": n.text(scope) if scope not in (None, "all", "election", "promotion", "custom", "festival") else scope,
                "since": since, "until": until, "findings": count, "rpa_version": version,
                "rules": self._scrubbed(json.loads(rules)),
            })
        sources = []
        for sid, name, fmt, owner, loaded, first, last, sha, size, path, ingested in self.sources:
            entry = {"source_id": sid, "name": self._source_name(sid, name), "sha256": sha, "bytes": size, "format": fmt,
                     "rows_loaded": loaded, "ingested_at": ingested}
            if not n.masked:
                entry["path"] = path
            sources.append(entry)
        head = None
        if audit_head:
            seq, digest = audit_head.split(" ", 1)
            head = {"seq": int(seq), "hash": digest}
        return {
            "generator": GENERATOR, "rpa_version": __version__, "generated_at": self.now, "lang": self.lang,
            "masked": n.masked, "scope": self.scope_json(), "schema_version": schema,
            "findings": {"in_scope": self.total_findings, "pages": [f["id"] for f in self.shown]},
            "scans": scans, "sources": sources, "audit_head_before": head,
        }

    def _scrubbed(self, obj: object) -> object:
        """Parsed JSON with every string scrubbed of names (masked reports)."""
        if isinstance(obj, str):
            return self.names.text(obj)
        if isinstance(obj, list):
            return [self._scrubbed(v) for v in obj]
        if isinstance(obj, dict):
            return {k: self._scrubbed(v) for k, v in obj.items()}
        return obj

    def _source_name(self, sid: int, name: str) -> str:
        return f"{self.t['p_file']}-{sid}" if self.names.masked else name

    # ----------------------------------------------------------------- pages

    def write(self, files: _Files, schema: int, audit_head: str | None) -> None:
        """Collect the data and write every page (manifest.json is the caller's)."""
        self.collect()
        # the manifest is embedded in the index as well (without the file list, which
        # would have to hold the index's own hash)
        self.manifest_data = self.manifest(schema, audit_head)
        files.write("assets/plotly.min.js", _plotly_js())
        files.write("assets/report.css", CSS.lstrip())
        for f in self.shown:
            files.write(f"findings/{_finding_file(f['id'])}", self.finding_page(f))
        for party, page in self.pages.items():
            files.write(f"persons/{page}", self.person_page(party))
        files.write("index.html", self.index_page())

    def _page(self, title: str, body: str, depth: int) -> str:
        up = "../" * depth
        t = self.t
        nav = "" if depth == 0 else f'<nav><a href="{up}index.html">{e(t["back"])}</a></nav>'
        masked = f'<p><span class="badge masked">{e(t["masked_note"])}</span></p>' if self.names.masked else ""
        scope = f'<p class="note" style="color:#fde">{e(t["scope_note"])}</p>' if self.restricted else ""
        return (
            f'<!DOCTYPE html>\n<html lang="{"zh-CN" if self.lang == "zh" else "en"}">\n<head>\n<meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n<meta name="referrer" content="no-referrer">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{e(title)}</title>\n'
            f'<link rel="stylesheet" href="{up}assets/report.css">\n<script src="{up}assets/plotly.min.js"></script>\n'
            f'</head>\n<body>\n<header>{nav}<h1>{e(title)}</h1>{masked}{scope}</header>\n<main>\n{body}\n</main>\n'
            f'<footer>{e(t["generated_by"].format(v=__version__))} · {e(t["generated"])} {e(_ts(self.now))}</footer>\n'
            f'</body>\n</html>\n'
        )

    def _rule_title(self, rule_id: str) -> str:
        rule = self.rules.get(rule_id)
        if rule is None:
            return rule_id
        return rule.title_zh if self.lang == "zh" and rule.title_zh else rule.title

    def _status(self, status: str) -> str:
        return self.t.get(f"status_{status}", status)

    def _badges(self, f: dict) -> Markup:
        t = self.t
        out = [f'<span class="badge sev-{e(f["severity"])}">{e(t.get(f["severity"], f["severity"]))}</span>',
               f'<span class="badge">{e(self._status(f["status"]))}</span>']
        if f["stale"]:
            out.append(f'<span class="badge stale" title="{e(t["stale_badge"])}">{e(t["stale"])}</span>')
        if f["suppressed_by"]:
            out.append(f'<span class="badge suppressed" title="{e(t["suppressed_badge"])}">{e(t["suppressed"])}</span>')
        return Markup("".join(out))

    def _party_link(self, party: str | None, depth: int) -> Markup | str:
        label = self.names.party(party)
        if party in self.pages:
            return _link(f"{'../' * depth}persons/{self.pages[party]}", label)
        return label

    def _finding_link(self, fid: str, depth: int) -> Markup:
        return _link(f"{'../' * depth}findings/{_finding_file(fid)}", fid)

    def _role(self, party: str) -> str:
        p = self.names.persons.get(party)
        if p is None:
            return "account"
        return "official" if p[2] else "party_member" if p[1] else "other"

    def _window_dict(self, name: str | None) -> dict | None:
        w = self.windows.get(name or "")
        if w is None:
            return None
        return {"name": self.names.window(w.name), "kind": w.kind, "start": w.start, "end": w.end}

    # ----------------------------------------------------------------- index

    def index_page(self) -> str:
        t, n = self.t, self.names
        count, amount, first, last = self.key_figures
        persons, accounts, duplicates, rejects = self.case_counts
        kpi = [(t["persons"], f"{persons:,}"), (t["accounts"], f"{accounts:,}"), (t["movements"], f"{count:,}"),
               (t["money"], money(amount)), (t["date_range"], f"{first:%Y-%m-%d} – {last:%Y-%m-%d}" if first else "—"),
               (t["findings_total"], f"{self.total_findings:,}"), (t["duplicates"], f"{duplicates:,}"),
               (t["rejects"], f"{rejects:,}")]
        body = [f'<h2>{e(t["key_figures"])}</h2><div class="kpi">'
                + "".join(f"<div><b>{e(v)}</b><span>{e(k)}</span></div>" for k, v in kpi) + "</div>"]
        # findings by rule and severity, and by triage status
        body.append(f'<h2>{e(t["by_rule"])}</h2>')
        rows = [[self._rule_title(rule), Markup(f'<span class="mono">{e(rule)}</span>'), hi, me, lo, hi + me + lo, sup, st]
                for rule, hi, me, lo, sup, st in self.by_rule]
        body.append(_table([t["rule"], "id", t["high"], t["medium"], t["low"], t["active"], t["suppressed"], t["stale"]],
                           rows, num={2, 3, 4, 5, 6, 7}))
        body.append(f'<h3>{e(t["by_status"])}</h3>')
        body.append(_table([t["status"], t["count"]], [[self._status(s), self.by_status.get(s, 0)] for s in STATUSES], num={1}))
        if self.by_rule:
            chart = [{"rule": self._rule_title(rule), "high": hi, "medium": me, "low": lo} for rule, hi, me, lo, *_ in self.by_rule]
            body.append('<div class="figures"><div>' + _fig(figs.findings_by_rule(chart, self.lang), "fig-findings-by-rule")
                        + "</div></div>")
        # the findings, linked to their pages
        body.append(f'<h2>{e(t["findings"])}</h2>')
        if len(self.shown) < self.total_findings:
            body.append(f'<p class="note">{e(t["shown_of"].format(shown=len(self.shown), total=self.total_findings))}</p>')
        body.append(_table(
            ["id", t["rule"], t["severity"], t["score"], t["subject"], t["amount"], t["txn_count"], t["window"], t["period"], t["status"]],
            [[self._finding_link(f["id"], 0), self._rule_title(f["rule"]), self._badges(f), f["score"],
              self._party_link(f["subject"], 0), money(f["total_amount"]), f["txn_count"], n.window(f["window"]) or "",
              f"{f['start'] or ''} – {f['end'] or ''}", self._status(f["status"])] for f in self.shown],
            num={3, 5, 6}) if self.shown else f'<p>{e(t["none"])}</p>')
        if self.pages:
            body.append(f'<h2>{e(t["persons_with_findings"])}</h2><p>'
                        + " · ".join(self._party_link(p, 0) for p in self.pages) + "</p>")
        body.append(f'<h2>{e(t["charts"])}</h2>')
        body.append(self._overview_figures())
        # The sources come after the findings: a production can hold hundreds of files.
        body.append(f'<h2>{e(t["sources"])}</h2>')
        sources = _table(
            ["#", t["file"], t["format"], t["owner"], t["loaded"], t["span"], t["sha256"]],
            [[sid, self._source_name(sid, name), fmt, n.account(owner), f"{loaded:,}", f"{_ts(first)} – {_ts(last)}", sha]
             for sid, name, fmt, owner, loaded, first, last, sha, *_ in self.sources],
            num={0, 4}, mono={6})
        if len(self.sources) > 10:
            sources = f"<details><summary>{len(self.sources):,} {e(t['files'])}</summary>{sources}</details>"
        body.append(sources)
        body.append(self._manifest_section())
        return self._page(t["title"], "\n".join(body), 0)

    def _overview_figures(self) -> str:
        t, n = self.t, self.names
        windows = [{"name": n.window(w.name), "kind": w.kind, "start": w.start, "end": w.end} for w in self.settings.windows]
        out = ['<div class="figures">']
        out.append("<div>" + _fig(figs.daily_volume(self.daily, windows, self.season_spans, self.lang), "fig-daily") + "</div>")
        out.append("<div>" + _fig(figs.amount_distribution(self.bins, self.customary, self.lang), "fig-amounts") + "</div>")
        out.append("<div>" + _fig(figs.hour_weekday(self.heat, self.lang), "fig-heatmap") + "</div>")
        flows = [{"payer": n.party(a), "payee": n.party(b), "amount": total, "count": c} for a, b, total, c in self.flows]
        out.append("<div>" + _fig(figs.largest_flows(flows, self.lang), "fig-flows") + "</div>")
        nodes = list(dict.fromkeys([*self.network_subjects, *(x for a, b, *_ in self.network_edges for x in (a, b))]))
        out.append("<div>" + _fig(figs.network(
            [{"id": p, "label": n.party(p), "role": self._role(p), "marked": p in self.pages} for p in nodes],
            [{"source": a, "target": b, "amount": total, "count": c} for a, b, total, c in self.network_edges],
            self.lang), "fig-network") + "</div>")
        out.append("<div>" + _fig(figs.org_sankey(
            [{"source": n.unit(a), "target": n.unit(b), "amount": total, "count": c} for a, b, total, c in self.sankey],
            self.lang), "fig-sankey") + "</div>")
        out.append("</div>")
        out.append(f'<h3>{e(t["largest_flows"])}</h3>')
        out.append(_table([t["payer"], t["payee"], t["amount"], t["txn_count"]],
                          [[self._party_link(a, 0), self._party_link(b, 0), money(total), c] for a, b, total, c in self.flows],
                          num={2, 3}))
        return "\n".join(out)

    def _manifest_section(self) -> str:
        t, m = self.t, self.manifest_data
        out = [f'<h2>{e(t["manifest"])}</h2>',
               _table([t["version"], t["generated"], t["scans"], t["sources"]],
                      [[m["rpa_version"], _ts(self.now), len(m["scans"]), len(m["sources"])]])]
        latest: dict[str, dict] = {}
        for s in m["scans"]:
            for r in s["rules"]:
                latest[r["id"]] = {**r, "scan_id": s["scan_id"]}
        out.append(f'<h3>{e(t["rules_run"])}</h3>')
        out.append(_table(
            [t["rule"], t["scan"], t["sha256"], t["params"]],
            [[Markup(f'<span class="mono">{e(rid)}</span>'), r["scan_id"], r["sha256"],
              "; ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in sorted(r["params"].items()))]
             for rid, r in sorted(latest.items())], mono={2}))
        out.append(f'<p class="note">{e(t["files_note"])}</p>')
        out.append(f'<details><summary>manifest</summary><pre>{e(_dumps(m))}</pre></details>')
        return "\n".join(out)

    # ----------------------------------------------------------------- finding page

    def finding_page(self, f: dict) -> str:
        t, n = self.t, self.names
        fid = f["id"]
        reason = n.text(f["reason_zh"] if self.lang == "zh" else f["reason_en"])
        body = [f'<p>{self._badges(f)} <span class="mono">{e(fid)}</span> · {e(t["score"])} {e(f["score"])}</p>',
                f'<h2>{e(t["reason"])}</h2><p class="reason">{e(reason)}</p>']
        if f["stale"]:
            body.append(f'<p class="note">{e(t["stale_badge"])}</p>')
        if f["suppressed_by"]:
            body.append(f'<p class="note">{e(t["suppressed_badge"])} (#{e(f["suppressed_by"])})</p>')
        body.append(_table(
            [t["subject"], t["counterparties"], t["window"], t["period"], t["amount"], t["txn_count"]],
            [[self._party_link(f["subject"], 1),
              Markup("<br>".join(e(self._party_link(c, 1)) for c in f["counterparties"])),
              n.window(f["window"]) or "", f"{f['start'] or ''} – {f['end'] or ''}", money(f["total_amount"]), f["txn_count"]]],
            num={4, 5}))
        body.append(f'<h2>{e(t["figures"])}</h2>')
        rule = self.rules.get(f["rule"])
        # figures under the labels of the rule's header (rules.figure_rows); a column of
        # rows (per night, per player) as a table of its own
        from analyzer.rules import figure_rows, figure_text

        figures = figure_rows(rule, f["metrics"], self.lang) if rule else [
            (k, v) for k, v in f["metrics"].items()  # a rule not at hand: its columns as named, this language's
            if not k.startswith("_") and not k.endswith("_en" if self.lang == "zh" else "_zh")]

        def cell(v):
            if isinstance(v, list) and v and all(isinstance(r, dict) for r in v):
                return Markup(_table(list(v[0]), [[n.text(figure_text(x)) for x in r.values()] for r in v], cls="sub"))
            if isinstance(v, dict) or (isinstance(v, list) and not rule):
                return json.dumps(self._scrubbed(v), ensure_ascii=False)
            return n.text(figure_text(v) if rule else v)

        body.append(_table([t["figure"], t["value"]], [[k, cell(v)] for k, v in figures]))
        desc = {p.name: p.description for p in rule.params} if rule else {}
        body.append(_table([t["param"], t["value"], t["description"]],
                           [[k, v if isinstance(v, str) else json.dumps(v, ensure_ascii=False), desc.get(k, "")]
                            for k, v in f["params"].items()]))
        # triage: current status and the full history
        body.append(f'<h2>{e(t["triage"])}</h2><p>{e(t["current"])}: <b>{e(self._status(f["status"]))}</b></p>')
        history = self.history.get(fid, [])
        body.append(_table([t["status"], t["note"], t["by"], t["at"], t["scan"]],
                           [[self._status(s), n.free(note) if note else "", n.actor(by), _ts(at), scan]
                            for s, note, by, at, scan in history], num={4})
                    if history else f'<p class="note">{e(t["no_decisions"])}</p>')
        # evidence
        rows = self.evidence.get(fid, [])
        body.append(f'<h2>{e(t["evidence"])}</h2>')
        body.append(_table(
            [t["txn_id"], t["time"], t["payer"], t["payee"], t["amount"], t["kind"], t["status"], t["channel"], t["memo"],
             t["file"], t["line"]],
            [[n.txn(r[1]), _ts(r[2]), self._party_link(r[3], 1), self._party_link(r[4], 1), money(r[5]), r[6], r[7], r[8],
              n.free(r[9]) if r[9] else "", self._source_name(r[10], r[11]), r[12]] for r in rows],
            num={4, 10}, mono={0}))
        more = self.evidence_total.get(fid, 0) - len(rows)
        if more > 0:
            body.append(f'<p class="note">{e(t["evidence_more"].format(n=more))}</p>')
        subject = f["subject"]
        points = [{"ts": r[2], "amount": r[5], "party": n.party(r[4] if r[3] == subject else r[3]), "kind": r[6]}
                  for r in rows if r[2] is not None]
        start = datetime.fromisoformat(f["start"]) if f["start"] else None
        end = datetime.fromisoformat(f["end"]) if f["end"] else None
        body.append('<div class="figures"><div>'
                    + _fig(figs.evidence_timeline(points, start, end, self._window_dict(f["window"]), self.lang), "fig-evidence")
                    + "</div><div>" + self._ego(subject, "fig-ego") + "</div></div>")
        return self._page(f"{self._rule_title(f['rule'])} · {n.party(subject)}", "\n".join(body), 1)

    def _ego(self, party: str, div_id: str) -> Markup:
        n = self.names
        members = self.ego_members.get(party, [party])
        inside = set(members)
        edges = [{"source": a, "target": b, "amount": total, "count": c}
                 for a in members for b, total, c in self.edges_from.get(a, []) if b in inside]
        nodes = [{"id": m, "label": n.party(m), "role": self._role(m)} for m in members]
        return _fig(figs.network(nodes, edges, self.lang, title=f"{self.t['network']}: {n.party(party)}", center=party,
                                 height=460), div_id)

    # ----------------------------------------------------------------- person page

    def person_page(self, party: str) -> str:
        t, n = self.t, self.names
        person = n.persons.get(party)
        body = [f'<h2>{e(t["who"])}</h2>']
        if person is None:
            body.append(f'<p>{e(t["not_in_roster"])}</p>')
            body.append(_table([t["accounts"]], [[n.account(party)]], mono={0}))
        else:
            name, party_member, official, unit, position, rank = person
            def yes(v):
                return t["yes"] if v else t["no"]
            body.append(_table(
                [t["name"], t["person_id"], t["party_member"], t["official"], t["org_unit"], t["position"], t["rank"]],
                [[n.party(party) if n.masked else (name or ""), n.person_id(party), yes(party_member), yes(official),
                  n.unit(unit) or "", n.text(position or ""), "" if rank is None else rank]]))
            relations = [r for r in self.relations if party in (r[0], r[1])]
            if relations:
                body.append(f'<h3>{e(t["relations"])}</h3><ul>')
                for a, b, rel in relations:
                    text = t["is_of"].format(a="\x00A\x00", b="\x00B\x00", rel=t.get(f"rel_{rel}", rel))
                    text = e(text).replace("\x00A\x00", e(self._party_link(a, 1))).replace("\x00B\x00", e(self._party_link(b, 1)))
                    body.append(f"<li>{text}</li>")
                body.append("</ul>")
            body.append(f'<h3>{e(t["aliases"])}</h3>')
            body.append(_table([t["accounts"]], [[n.account(a)] for a in self.aliases.get(party, [])], mono={0}))
            body.append(f'<h3>{e(t["accounts_seen"])}</h3>')
            body.append(_table([t["accounts"], t["txn_count"]], [[n.account(a), c] for a, c in self.accounts_seen.get(party, [])],
                               num={1}, mono={0}))
        # counterparties
        body.append(f'<h2>{e(t["counterparties"])}</h2>')
        rel_of: dict[str, list[str]] = defaultdict(list)
        for a, b, rel in self.relations:
            if a == party:
                rel_of[b].append(t.get(f"rel_{rel}", rel) + " ←")
            elif b == party:
                rel_of[a].append("→ " + t.get(f"rel_{rel}", rel))
        body.append(_table([t["counterparty"], t["relation"], t["sent"], t["received"], t["txn_count"]],
                           [[self._party_link(o, 1), ", ".join(rel_of.get(o, [])), money(s), money(r), c]
                            for o, s, r, c in self.counterparties.get(party, [])], num={2, 3, 4}))
        days = self.person_days.get(party, [])
        # (the person's network is on each of its finding pages)
        body.append('<div class="figures"><div>' + _fig(figs.person_timeline(days, self.lang), "fig-person-timeline")
                    + "</div></div>")
        # findings about this party
        body.append(f'<h2>{e(t["findings"])}</h2>')
        mine = [f for f in self.shown if f["subject"] == party or party in f["counterparties"]]
        body.append(_table(
            ["id", t["role"], t["rule"], t["severity"], t["amount"], t["period"], t["status"]],
            [[self._finding_link(f["id"], 1), t["as_subject"] if f["subject"] == party else t["as_counterparty"],
              self._rule_title(f["rule"]), self._badges(f), money(f["total_amount"]), f"{f['start'] or ''} – {f['end'] or ''}",
              self._status(f["status"])] for f in mine], num={4}))
        more = self.more_findings.get(party, 0) - sum(1 for f in mine if f["subject"] == party)
        if more > 0:
            body.append(f'<p class="note">{e(t["more_findings"].format(n=more))}</p>')
        kind = t["person_page"] if person is not None else t["account_page"]
        return self._page(f"{kind}: {n.party(party)}", "\n".join(body), 1)


@dataclass
class ReportCheck:
    """One recorded report against its files: intact | changed | not on disk | replaced
    (a later report was written into the same folder)."""

    report_id: int
    path: str
    state: str
    detail: str = ""


def verify_reports(con: duckdb.DuckDBPyConnection) -> list[ReportCheck]:
    """Re-hash every report the case recorded that is still where it was written: its
    manifest.json against the recorded SHA-256, and every file the manifest lists against
    its own. A report moved or deleted since is only noted: reports are made to be
    handed on."""
    checks = []
    rows = con.execute("SELECT report_id, path, sha256 FROM reports ORDER BY report_id").fetchall()
    latest = {path: report_id for report_id, path, _ in rows}
    for report_id, path, sha in rows:
        if latest[path] != report_id:
            checks.append(ReportCheck(report_id, path, "replaced", f"by report {latest[path]}"))
            continue
        folder = Path(path)
        manifest = folder / "manifest.json"
        if not manifest.is_file():
            checks.append(ReportCheck(report_id, path, "not on disk"))
            continue
        data = manifest.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha:
            checks.append(ReportCheck(report_id, path, "changed", "manifest.json differs from the one recorded"))
            continue
        listed = {f["path"]: f["sha256"] for f in json.loads(data)["files"]}
        changed = [rel for rel, digest in listed.items()
                   if not (folder / rel).is_file() or hashlib.sha256((folder / rel).read_bytes()).hexdigest() != digest]
        present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
        added = sorted(present - set(listed) - {"manifest.json"})
        if changed or added:
            detail = "; ".join(filter(None, [
                f"{len(changed)} file(s) changed or gone: {', '.join(changed[:3])}" if changed else "",
                f"{len(added)} file(s) added: {', '.join(added[:3])}" if added else ""]))
            checks.append(ReportCheck(report_id, path, "changed", detail))
        else:
            checks.append(ReportCheck(report_id, path, "intact", f"{len(listed)} files"))
    return checks
