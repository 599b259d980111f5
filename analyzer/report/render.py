"""Rendering a report: its pages and figures, from (masked or not) ReportData.

Nothing here queries the case or knows a name the data does not carry: what a page
shows is what collect.py gathered, after mask.py when the report is masked. Every text
from the data is HTML-escaped; page file names come from finding ids (checked hex) or
hashes, never from names in the data.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path

import plotly.io as pio

from analyzer import __version__
from analyzer import figures as figs
from analyzer.findings import money
from analyzer.report.collect import ReportData
from analyzer.report.mask import Hidden
from analyzer.triage import STATUSES

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


def finding_file(fid: str) -> str:
    """findings/<id>.html; an id that is not the scan's own hex form is hashed."""
    if FINDING_ID.fullmatch(fid):
        return f"{fid}.html"
    return "F" + hashlib.sha256(fid.encode("utf-8")).hexdigest()[:16] + ".html"


def person_file(party: str) -> str:
    """A person page's file name: a hash of the party (a pseudonym when masked), never
    the id or a name from the data."""
    return hashlib.sha256(f"page\x00{party}".encode()).hexdigest()[:16] + ".html"


def table(headers: list[str], rows: list[list], num: set[int] = frozenset(), mono: set[int] = frozenset(),
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


def link(href: str, text: object) -> Markup:
    return Markup(f'<a href="{e(href)}">{e(text)}</a>')


def ts(value: datetime | date | None) -> str:
    if value is None:
        return ""
    return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()


def fig_html(fig, div_id: str) -> Markup:
    """A figure as a div and the inline call that draws it (plotly.js comes from assets/)."""
    return Markup(pio.to_html(fig, include_plotlyjs=False, include_mathjax=False, full_html=False, div_id=div_id,
                              config=PLOTLY_CONFIG, validate=False))


def plotly_js() -> bytes:
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
        return ts(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=1, sort_keys=True, default=_json_value)


def figures_table(f: dict, t: dict, lang: str, rule=None) -> str:
    """A finding's figures under the labels of the rule's header (rules.figure_rows); a
    column of rows (per night, per player) as a table of its own. For a rule not at
    hand, its columns as named, in this language. Values come masked when asked."""
    from analyzer.rules import figure_rows, figure_text

    def shown(v: object) -> object:
        if isinstance(v, Hidden):  # withheld by masking
            return Markup(f'<span class="note">{e(t["hidden"])}</span>')
        return figure_text(v) if rule else v

    def cell(v: object) -> object:
        if isinstance(v, Hidden):
            return shown(v)
        if isinstance(v, list) and v and all(isinstance(r, dict) for r in v):
            return Markup(table(list(v[0]), [[shown(x) for x in r.values()] for r in v], cls="sub"))
        if isinstance(v, (list, dict)) and not rule:
            listed = [t["hidden"] if isinstance(x, Hidden) else x for x in v] if isinstance(v, list) else v
            return json.dumps(listed, ensure_ascii=False, default=str)
        if isinstance(v, list):
            return "、".join(t["hidden"] if isinstance(x, Hidden) else figure_text(x) for x in v)
        return shown(v)

    figures = figure_rows(rule, f["metrics"], lang) if rule else [
        (k, v) for k, v in f["metrics"].items()
        # the other language's wording of a figure (for the reasons) is noise here
        if not k.startswith("_") and not k.endswith("_en" if lang == "zh" else "_zh")]
    return table([t["figure"], t["value"]], [[k, cell(v)] for k, v in figures])


class Renderer:
    """The pages of one report, from its data."""

    def __init__(self, data: ReportData):
        self.d = data
        self.lang = data.lang
        self.t = TEXT[data.lang]
        self.pages = {party: person_file(party) for party in data.parties}

    # ----------------------------------------------------------------- pieces

    def label(self, party: str | None) -> str:
        """A person as name（id）, else the id or account as it is."""
        if party is None or party == "":
            return "—"
        p = self.d.persons.get(party)
        return f"{p.name}（{party}）" if p is not None and p.name else party

    def free(self, text: object) -> object:
        """Free text from the data (memos, notes); withheld ones say so."""
        if isinstance(text, Hidden):
            return Markup(f'<span class="note">{e(self.t["hidden"])}</span>')
        return text or ""

    def page(self, title: str, body: str, depth: int) -> str:
        up = "../" * depth
        t = self.t
        nav = "" if depth == 0 else f'<nav><a href="{up}index.html">{e(t["back"])}</a></nav>'
        masked = f'<p><span class="badge masked">{e(t["masked_note"])}</span></p>' if self.d.masked else ""
        scope = f'<p class="note" style="color:#fde">{e(t["scope_note"])}</p>' if self.d.restricted else ""
        return (
            f'<!DOCTYPE html>\n<html lang="{"zh-CN" if self.lang == "zh" else "en"}">\n<head>\n<meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n<meta name="referrer" content="no-referrer">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{e(title)}</title>\n'
            f'<link rel="stylesheet" href="{up}assets/report.css">\n<script src="{up}assets/plotly.min.js"></script>\n'
            f'</head>\n<body>\n<header>{nav}<h1>{e(title)}</h1>{masked}{scope}</header>\n<main>\n{body}\n</main>\n'
            f'<footer>{e(t["generated_by"].format(v=__version__))} · {e(t["generated"])} {e(ts(self.d.now))}</footer>\n'
            f'</body>\n</html>\n'
        )

    def rule_title(self, rule_id: str) -> str:
        rule = self.d.rules.get(rule_id)
        if rule is None:
            return rule_id
        return rule.title_zh if self.lang == "zh" and rule.title_zh else rule.title

    def status(self, status: str) -> str:
        return self.t.get(f"status_{status}", status)

    def badges(self, f: dict) -> Markup:
        t = self.t
        out = [f'<span class="badge sev-{e(f["severity"])}">{e(t.get(f["severity"], f["severity"]))}</span>',
               f'<span class="badge">{e(self.status(f["status"]))}</span>']
        if f["stale"]:
            out.append(f'<span class="badge stale" title="{e(t["stale_badge"])}">{e(t["stale"])}</span>')
        if f["suppressed_by"]:
            out.append(f'<span class="badge suppressed" title="{e(t["suppressed_badge"])}">{e(t["suppressed"])}</span>')
        return Markup("".join(out))

    def party_link(self, party: str | None, depth: int) -> Markup | str:
        text = self.label(party)
        if party in self.pages:
            return link(f"{'../' * depth}persons/{self.pages[party]}", text)
        return text

    def finding_link(self, fid: str, depth: int) -> Markup:
        return link(f"{'../' * depth}findings/{finding_file(fid)}", fid)

    def role(self, party: str) -> str:
        p = self.d.persons.get(party)
        if p is None:
            return "account"
        return "official" if p.official else "party_member" if p.party_member else "other"

    def window_dict(self, name: str | None) -> dict | None:
        w = next((w for w in self.d.windows if w.name == name), None) if name else None
        if w is None:
            return None
        return {"name": w.name, "kind": w.kind, "start": w.start, "end": w.end}

    # ----------------------------------------------------------------- manifest

    def manifest(self, schema: int, audit_head: str | None) -> dict:
        """Provenance: rpa version, rules run with parameters and SQL hashes, input files."""
        d = self.d
        sources = []
        for s in d.sources:
            entry = {"source_id": s.source_id, "name": s.name, "sha256": s.sha256, "bytes": s.size, "format": s.format,
                     "rows_loaded": s.rows_loaded, "ingested_at": s.ingested_at}
            if s.path is not None:
                entry["path"] = s.path
            sources.append(entry)
        head = None
        if audit_head:
            seq, digest = audit_head.split(" ", 1)
            head = {"seq": int(seq), "hash": digest}
        return {
            "generator": "rpa report", "rpa_version": __version__, "generated_at": d.now, "lang": self.lang,
            "masked": d.masked, "scope": d.scope, "schema_version": schema,
            "findings": {"in_scope": d.total_findings, "pages": [f["id"] for f in d.shown]},
            "scans": d.scans, "sources": sources, "audit_head_before": head,
        }

    # ----------------------------------------------------------------- index

    def index_page(self, manifest: dict) -> str:
        t, d = self.t, self.d
        count, amount, first, last = d.key_figures
        persons, accounts, duplicates, rejects = d.case_counts
        kpi = [(t["persons"], f"{persons:,}"), (t["accounts"], f"{accounts:,}"), (t["movements"], f"{count:,}"),
               (t["money"], money(amount)), (t["date_range"], f"{first:%Y-%m-%d} – {last:%Y-%m-%d}" if first else "—"),
               (t["findings_total"], f"{d.total_findings:,}"), (t["duplicates"], f"{duplicates:,}"),
               (t["rejects"], f"{rejects:,}")]
        body = [f'<h2>{e(t["key_figures"])}</h2><div class="kpi">'
                + "".join(f"<div><b>{e(v)}</b><span>{e(k)}</span></div>" for k, v in kpi) + "</div>"]
        body.append(f'<h2>{e(t["by_rule"])}</h2>')
        rows = [[self.rule_title(rule), Markup(f'<span class="mono">{e(rule)}</span>'), hi, me, lo, hi + me + lo, sup, st]
                for rule, hi, me, lo, sup, st in d.by_rule]
        body.append(table([t["rule"], "id", t["high"], t["medium"], t["low"], t["active"], t["suppressed"], t["stale"]],
                          rows, num={2, 3, 4, 5, 6, 7}))
        body.append(f'<h3>{e(t["by_status"])}</h3>')
        body.append(table([t["status"], t["count"]], [[self.status(s), d.by_status.get(s, 0)] for s in STATUSES], num={1}))
        if d.by_rule:
            chart = [{"rule": self.rule_title(rule), "high": hi, "medium": me, "low": lo} for rule, hi, me, lo, *_ in d.by_rule]
            body.append('<div class="figures"><div>' + fig_html(figs.findings_by_rule(chart, self.lang), "fig-findings-by-rule")
                        + "</div></div>")
        body.append(f'<h2>{e(t["findings"])}</h2>')
        if len(d.shown) < d.total_findings:
            body.append(f'<p class="note">{e(t["shown_of"].format(shown=len(d.shown), total=d.total_findings))}</p>')
        body.append(table(
            ["id", t["rule"], t["severity"], t["score"], t["subject"], t["amount"], t["txn_count"], t["window"], t["period"], t["status"]],
            [[self.finding_link(f["id"], 0), self.rule_title(f["rule"]), self.badges(f), f["score"],
              self.party_link(f["subject"], 0), money(f["total_amount"]), f["txn_count"], f["window"] or "",
              f"{f['start'] or ''} – {f['end'] or ''}", self.status(f["status"])] for f in d.shown],
            num={3, 5, 6}) if d.shown else f'<p>{e(t["none"])}</p>')
        if self.pages:
            body.append(f'<h2>{e(t["persons_with_findings"])}</h2><p>'
                        + " · ".join(self.party_link(p, 0) for p in self.pages) + "</p>")
        body.append(f'<h2>{e(t["charts"])}</h2>')
        body.append(self.overview_figures())
        # The sources come after the findings: a production can hold hundreds of files.
        body.append(f'<h2>{e(t["sources"])}</h2>')
        sources = table(
            ["#", t["file"], t["format"], t["owner"], t["loaded"], t["span"], t["sha256"]],
            [[s.source_id, s.name, s.format, s.owner or "", f"{s.rows_loaded:,}", f"{ts(s.first_ts)} – {ts(s.last_ts)}", s.sha256]
             for s in d.sources],
            num={0, 4}, mono={6})
        if len(d.sources) > 10:
            sources = f"<details><summary>{len(d.sources):,} {e(t['files'])}</summary>{sources}</details>"
        body.append(sources)
        body.append(self.manifest_section(manifest))
        return self.page(t["title"], "\n".join(body), 0)

    def overview_figures(self) -> str:
        t, d = self.t, self.d
        windows = [{"name": w.name, "kind": w.kind, "start": w.start, "end": w.end} for w in d.windows]
        out = ['<div class="figures">']
        out.append("<div>" + fig_html(figs.daily_volume(d.daily, windows, d.season_spans, self.lang), "fig-daily") + "</div>")
        out.append("<div>" + fig_html(figs.amount_distribution(d.bins, d.customary, self.lang), "fig-amounts") + "</div>")
        out.append("<div>" + fig_html(figs.hour_weekday(d.heat, self.lang), "fig-heatmap") + "</div>")
        flows = [{"payer": self.label(a), "payee": self.label(b), "amount": total, "count": c} for a, b, total, c in d.flows]
        out.append("<div>" + fig_html(figs.largest_flows(flows, self.lang), "fig-flows") + "</div>")
        nodes = list(dict.fromkeys([*d.network_subjects, *(x for a, b, *_ in d.network_edges for x in (a, b))]))
        out.append("<div>" + fig_html(figs.network(
            [{"id": p, "label": self.label(p), "role": self.role(p), "marked": p in self.pages} for p in nodes],
            [{"source": a, "target": b, "amount": total, "count": c} for a, b, total, c in d.network_edges],
            self.lang), "fig-network") + "</div>")
        out.append("<div>" + fig_html(figs.org_sankey(
            [{"source": a, "target": b, "amount": total, "count": c} for a, b, total, c in d.sankey],
            self.lang), "fig-sankey") + "</div>")
        out.append("</div>")
        out.append(f'<h3>{e(t["largest_flows"])}</h3>')
        out.append(table([t["payer"], t["payee"], t["amount"], t["txn_count"]],
                         [[self.party_link(a, 0), self.party_link(b, 0), money(total), c] for a, b, total, c in d.flows],
                         num={2, 3}))
        return "\n".join(out)

    def manifest_section(self, m: dict) -> str:
        t = self.t
        out = [f'<h2>{e(t["manifest"])}</h2>',
               table([t["version"], t["generated"], t["scans"], t["sources"]],
                     [[m["rpa_version"], ts(self.d.now), len(m["scans"]), len(m["sources"])]])]
        latest: dict[str, dict] = {}
        for s in m["scans"]:
            for r in s["rules"]:
                latest[r["id"]] = {**r, "scan_id": s["scan_id"]}
        out.append(f'<h3>{e(t["rules_run"])}</h3>')
        out.append(table(
            [t["rule"], t["scan"], t["sha256"], t["params"]],
            [[Markup(f'<span class="mono">{e(rid)}</span>'), r["scan_id"], r["sha256"],
              "; ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in sorted(r["params"].items()))]
             for rid, r in sorted(latest.items())], mono={2}))
        out.append(f'<p class="note">{e(t["files_note"])}</p>')
        out.append(f'<details><summary>manifest</summary><pre>{e(dumps(m))}</pre></details>')
        return "\n".join(out)

    # ----------------------------------------------------------------- finding page

    def finding_page(self, f: dict) -> str:
        t, d = self.t, self.d
        fid = f["id"]
        body = [f'<p>{self.badges(f)} <span class="mono">{e(fid)}</span> · {e(t["score"])} {e(f["score"])}</p>',
                f'<h2>{e(t["reason"])}</h2><p class="reason">{e(f["reason"])}</p>']
        if f["stale"]:
            body.append(f'<p class="note">{e(t["stale_badge"])}</p>')
        if f["suppressed_by"]:
            body.append(f'<p class="note">{e(t["suppressed_badge"])} (#{e(f["suppressed_by"])})</p>')
        body.append(table(
            [t["subject"], t["counterparties"], t["window"], t["period"], t["amount"], t["txn_count"]],
            [[self.party_link(f["subject"], 1),
              Markup("<br>".join(e(self.party_link(c, 1)) for c in f["counterparties"])),
              f["window"] or "", f"{f['start'] or ''} – {f['end'] or ''}", money(f["total_amount"]), f["txn_count"]]],
            num={4, 5}))
        body.append(f'<h2>{e(t["figures"])}</h2>')
        rule = d.rules.get(f["rule"])
        body.append(figures_table(f, t, self.lang, rule.rule if rule else None))
        desc = rule.params if rule else {}
        body.append(table([t["param"], t["value"], t["description"]],
                          [[k, v if isinstance(v, str) else json.dumps(v, ensure_ascii=False), desc.get(k, "")]
                           for k, v in f["params"].items()]))
        # triage: current status and the full history
        body.append(f'<h2>{e(t["triage"])}</h2><p>{e(t["current"])}: <b>{e(self.status(f["status"]))}</b></p>')
        history = d.history.get(fid, [])
        body.append(table([t["status"], t["note"], t["by"], t["at"], t["scan"]],
                          [[self.status(s), self.free(note), by or "", ts(at), scan] for s, note, by, at, scan in history],
                          num={4})
                    if history else f'<p class="note">{e(t["no_decisions"])}</p>')
        rows = d.evidence.get(fid, [])
        body.append(f'<h2>{e(t["evidence"])}</h2>')
        body.append(table(
            [t["txn_id"], t["time"], t["payer"], t["payee"], t["amount"], t["kind"], t["status"], t["channel"], t["memo"],
             t["file"], t["line"]],
            [[r.txn_id or "", ts(r.ts), self.party_link(r.payer, 1), self.party_link(r.payee, 1), money(r.amount), r.kind,
              r.status, r.channel, self.free(r.memo), r.file, r.line] for r in rows],
            num={4, 10}, mono={0}))
        more = d.evidence_total.get(fid, 0) - len(rows)
        if more > 0:
            body.append(f'<p class="note">{e(t["evidence_more"].format(n=more))}</p>')
        subject = f["subject"]
        points = [{"ts": r.ts, "amount": r.amount, "party": self.label(r.payee if r.payer == subject else r.payer), "kind": r.kind}
                  for r in rows if r.ts is not None]
        start = datetime.fromisoformat(f["start"]) if f["start"] else None
        end = datetime.fromisoformat(f["end"]) if f["end"] else None
        body.append('<div class="figures"><div>'
                    + fig_html(figs.evidence_timeline(points, start, end, self.window_dict(f["window"]), self.lang), "fig-evidence")
                    + "</div><div>" + self.ego(subject, "fig-ego") + "</div></div>")
        return self.page(f"{self.rule_title(f['rule'])} · {self.label(subject)}", "\n".join(body), 1)

    def ego(self, party: str, div_id: str) -> Markup:
        d = self.d
        members = d.ego_members.get(party, [party])
        inside = set(members)
        edges = [{"source": a, "target": b, "amount": total, "count": c}
                 for a in members for b, total, c in d.edges_from.get(a, []) if b in inside]
        nodes = [{"id": m, "label": self.label(m), "role": self.role(m)} for m in members]
        return fig_html(figs.network(nodes, edges, self.lang, title=f"{self.t['network']}: {self.label(party)}", center=party,
                                     height=460), div_id)

    # ----------------------------------------------------------------- person page

    def person_page(self, party: str) -> str:
        t, d = self.t, self.d
        person = d.persons.get(party)
        body = [f'<h2>{e(t["who"])}</h2>']
        if person is None:
            body.append(f'<p>{e(t["not_in_roster"])}</p>')
            body.append(table([t["accounts"]], [[party]], mono={0}))
        else:
            def yes(v):
                return t["yes"] if v else t["no"]
            body.append(table(
                [t["name"], t["person_id"], t["party_member"], t["official"], t["org_unit"], t["position"], t["rank"]],
                [[person.name or party, party, yes(person.party_member), yes(person.official), person.org_unit or "",
                  person.position or "", "" if person.rank is None else person.rank]]))
            relations = [r for r in d.relations if party in (r[0], r[1])]
            if relations:
                body.append(f'<h3>{e(t["relations"])}</h3><ul>')
                for a, b, rel in relations:
                    text = t["is_of"].format(a="\x00A\x00", b="\x00B\x00", rel=t.get(f"rel_{rel}", rel))
                    text = e(text).replace("\x00A\x00", e(self.party_link(a, 1))).replace("\x00B\x00", e(self.party_link(b, 1)))
                    body.append(f"<li>{text}</li>")
                body.append("</ul>")
            body.append(f'<h3>{e(t["aliases"])}</h3>')
            body.append(table([t["accounts"]], [[a] for a in d.aliases.get(party, [])], mono={0}))
            body.append(f'<h3>{e(t["accounts_seen"])}</h3>')
            body.append(table([t["accounts"], t["txn_count"]], [[a or "", c] for a, c in d.accounts_seen.get(party, [])],
                              num={1}, mono={0}))
        body.append(f'<h2>{e(t["counterparties"])}</h2>')
        rel_of: dict[str, list[str]] = defaultdict(list)
        for a, b, rel in d.relations:
            if a == party:
                rel_of[b].append(t.get(f"rel_{rel}", rel) + " ←")
            elif b == party:
                rel_of[a].append("→ " + t.get(f"rel_{rel}", rel))
        body.append(table([t["counterparty"], t["relation"], t["sent"], t["received"], t["txn_count"]],
                          [[self.party_link(o, 1), ", ".join(rel_of.get(o, [])), money(s), money(r), c]
                           for o, s, r, c in d.counterparties.get(party, [])], num={2, 3, 4}))
        days = d.person_days.get(party, [])
        # (the person's network is on each of its finding pages)
        body.append('<div class="figures"><div>' + fig_html(figs.person_timeline(days, self.lang), "fig-person-timeline")
                    + "</div></div>")
        body.append(f'<h2>{e(t["findings"])}</h2>')
        mine = [f for f in d.shown if f["subject"] == party or party in f["counterparties"]]
        body.append(table(
            ["id", t["role"], t["rule"], t["severity"], t["amount"], t["period"], t["status"]],
            [[self.finding_link(f["id"], 1), t["as_subject"] if f["subject"] == party else t["as_counterparty"],
              self.rule_title(f["rule"]), self.badges(f), money(f["total_amount"]), f"{f['start'] or ''} – {f['end'] or ''}",
              self.status(f["status"])] for f in mine], num={4}))
        more = d.more_findings.get(party, 0) - sum(1 for f in mine if f["subject"] == party)
        if more > 0:
            body.append(f'<p class="note">{e(t["more_findings"].format(n=more))}</p>')
        kind = t["person_page"] if person is not None else t["account_page"]
        return self.page(f"{kind}: {self.label(party)}", "\n".join(body), 1)
