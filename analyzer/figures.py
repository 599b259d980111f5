"""The report's charts: pure functions from small, already aggregated data to Plotly figures.

Nothing here reads the case: `analyzer.report` aggregates in DuckDB and passes rows in
(lists of dicts or tuples, a few hundred at most). Every function takes `lang` ("zh" or
"en") for its labels.

Text from the data (names, accounts, window names) is HTML-escaped before it goes into
a figure: Plotly renders a small set of HTML tags in labels and decodes entities, so an
escaped nickname `<img src=x onerror=alert(1)>` is drawn as those characters, never as
markup.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
import plotly.graph_objects as go

# CJK first: Debian's fonts-noto-cjk, Windows, macOS, then Linux fallbacks.
FONT_FAMILY = ('"Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC", '
               '"Hiragino Sans GB", "WenQuanYi Micro Hei", "Noto Sans", sans-serif')

# Our look, set on each figure's layout directly with Plotly's empty template "none":
# the default template adds ~5 KB to every figure, and a template object costs a
# validation pass per figure.
STYLE = {
    "template": "none",
    "font": {"family": FONT_FAMILY, "size": 12, "color": "#222"},
    "paper_bgcolor": "white",
    "plot_bgcolor": "white",
    "colorway": ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"],
    "xaxis": {"gridcolor": "#e5e5e5", "zerolinecolor": "#ccc", "automargin": True},
    "yaxis": {"gridcolor": "#e5e5e5", "zerolinecolor": "#ccc", "automargin": True},
    "hoverlabel": {"font": {"family": FONT_FAMILY}},
    "hovermode": "closest",
    "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
}

# The amounts people customarily give (吉利数), and WeChat's 200-yuan cap on one packet
# (520 allowed on 2-14, 5-20 and 七夕).
CUSTOMARY_AMOUNTS = (Decimal("6.66"), Decimal("8.88"), Decimal(66), Decimal(88), Decimal(200), Decimal(520))
PACKET_CAP = Decimal(200)
# Amount histogram: bins per decade on a log scale (10 yuan .. 100 yuan is 20 bins).
BINS_PER_DECADE = 20

# A network of more nodes than this names only its marked nodes on the chart.
LABEL_ALL_UP_TO = 25
ROLE_COLOURS = {"official": "#c0392b", "party_member": "#e67e22", "other": "#2e86c1", "account": "#95a5a6"}
WINDOW_COLOURS = {"election": "rgba(214, 39, 40, 0.13)", "promotion": "rgba(31, 119, 180, 0.13)",
                  "custom": "rgba(148, 103, 189, 0.13)"}
SEASON_COLOUR = "rgba(240, 173, 0, 0.55)"

LABELS = {
    "zh": {
        "daily_title": "每日资金往来", "day": "日期", "amount": "金额（元）", "count": "笔数",
        "election": "换届", "promotion": "选拔任用", "custom": "窗口", "season": "节日期间",
        "amounts_title": "金额分布（对数刻度）", "movements": "笔数", "customary": "常见吉利金额",
        "cap": "单个红包上限¥200", "distribution": "全部往来",
        "heat_title": "时段分布（小时 × 星期）", "hour": "小时", "weekday": "星期",
        "weekdays": ["周一", "周二", "周三", "周四", "周五", "周六", "周日"],
        "flows_title": "最大资金流向", "network_title": "人员资金网络（线宽：金额）",
        "official": "公职人员", "party_member": "党员", "other": "其他人员", "account": "名单外账户",
        "sankey_title": "单位之间的资金流向", "outside": "名单外 / 未填单位", "from": "付", "to": "收",
        "evidence_title": "证据时间线", "finding_span": "线索时段", "others": "其他",
        "ego_title": "关系网络", "person_title": "往来时间线", "sent": "付出", "received": "收入",
        "by_rule_title": "线索（按规则、风险等级）", "findings": "线索数",
        "high": "高", "medium": "中", "low": "低",
    },
    "en": {
        "daily_title": "Money moved per day", "day": "Day", "amount": "Amount (yuan)", "count": "Movements",
        "election": "election", "promotion": "promotion", "custom": "window", "season": "festive season",
        "amounts_title": "Distribution of amounts (log scale)", "movements": "Movements", "customary": "customary amounts",
        "cap": "¥200 packet cap", "distribution": "all movements",
        "heat_title": "When: hour × weekday", "hour": "Hour", "weekday": "Weekday",
        "weekdays": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
        "flows_title": "Largest flows", "network_title": "Money network among persons (line width: amount)",
        "official": "official", "party_member": "Party member", "other": "other person", "account": "account not in roster",
        "sankey_title": "Money between org units", "outside": "outside the roster / no unit", "from": "from", "to": "to",
        "evidence_title": "Evidence timeline", "finding_span": "finding's span", "others": "others",
        "ego_title": "Network", "person_title": "Movements over time", "sent": "sent", "received": "received",
        "by_rule_title": "Findings by rule and severity", "findings": "Findings",
        "high": "high", "medium": "medium", "low": "low",
    },
}


def esc(value: object) -> str:
    """Data text made safe for a Plotly label (entities, no markup)."""
    return html.escape("" if value is None else str(value), quote=True)


def yuan(amount: Decimal | int) -> str:
    """An amount as people write it: 200, 6.66, 0.5 (no trailing zeros)."""
    text = f"{Decimal(amount):.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _figure(title: str, height: int = 380) -> go.Figure:
    return go.Figure(layout={**STYLE, "title": {"text": title, "font": {"size": 15}, "x": 0.01, "xanchor": "left"},
                             "height": height})


def findings_by_rule(rows: Sequence[dict], lang: str = "zh") -> go.Figure:
    """Stacked horizontal bars: findings per rule, by severity.

    rows: {"rule": label, "high": n, "medium": n, "low": n}."""
    t = LABELS[lang]
    fig = _figure(t["by_rule_title"], height=max(260, 60 + 28 * len(rows)))
    colours = {"high": "#c0392b", "medium": "#e67e22", "low": "#f1c40f"}
    labels = [esc(r["rule"]) for r in rows]
    for sev in ("high", "medium", "low"):
        fig.add_trace(go.Bar(y=labels, x=[r.get(sev, 0) for r in rows], name=t[sev], orientation="h",
                             marker_color=colours[sev]))
    fig.update_layout(barmode="stack", xaxis_title=t["findings"], yaxis={"autorange": "reversed"},
                      legend={"orientation": "h", "y": -0.2})
    return fig


def daily_volume(days: Sequence[dict], windows: Sequence[dict] = (), seasons: Sequence[dict] = (), lang: str = "zh") -> go.Figure:
    """Money moved per day (bars), election and promotion windows shaded, festive seasons
    marked as a band along the bottom.

    days: {"day": date, "amount": Decimal, "count": int}; windows: {"name", "kind",
    "start": date, "end": date}; seasons: {"name", "start": date, "end": date}."""
    t = LABELS[lang]
    fig = _figure(t["daily_title"], height=400)
    fig.add_trace(go.Bar(
        x=[d["day"] for d in days], y=[d["amount"] for d in days], customdata=[d["count"] for d in days],
        name=t["amount"], marker_color="#4e79a7",
        hovertemplate=f"%{{x|%Y-%m-%d}}<br>¥%{{y:,.2f}}<br>{t['count']}: %{{customdata}}<extra></extra>",
    ))
    shapes, annotations = [], []
    for w in windows:
        shapes.append({
            "type": "rect", "xref": "x", "yref": "paper", "x0": w["start"], "x1": w["end"] + timedelta(days=1),
            "y0": 0, "y1": 1, "fillcolor": WINDOW_COLOURS.get(w["kind"], WINDOW_COLOURS["custom"]), "line": {"width": 0},
            "layer": "below",
        })
        annotations.append({
            "x": w["start"], "xref": "x", "y": 1.0, "yref": "paper", "xanchor": "left", "yanchor": "bottom",
            "text": f"{t.get(w['kind'], t['custom'])}: {esc(w['name'])}", "showarrow": False, "font": {"size": 10},
        })
    for s in seasons:
        shapes.append({
            "type": "rect", "xref": "x", "yref": "paper", "x0": s["start"], "x1": s["end"] + timedelta(days=1),
            "y0": -0.02, "y1": 0.02, "fillcolor": SEASON_COLOUR, "line": {"width": 0}, "layer": "above",
        })
    if seasons:
        # the bands carry no hover text: one invisible point per season names it
        fig.add_trace(go.Scatter(
            x=[s["start"] + (s["end"] - s["start"]) / 2 for s in seasons], y=[0] * len(seasons), mode="markers",
            marker={"size": 9, "color": SEASON_COLOUR, "symbol": "line-ew-open"},
            text=[f"{esc(s['name'])}: {s['start']:%Y-%m-%d} – {s['end']:%Y-%m-%d}" for s in seasons],
            hovertemplate="%{text}<extra></extra>", name=t["season"],
        ))
    fig.update_layout(shapes=shapes, annotations=annotations, xaxis_title=t["day"], yaxis_title=t["amount"],
                      bargap=0, showlegend=bool(seasons), legend={"orientation": "h", "y": -0.25})
    return fig


def amount_distribution(bins: Sequence[dict], customary: Sequence[dict] = (), lang: str = "zh") -> go.Figure:
    """How many movements of each size, on a log scale, with the customary amounts and the
    200-yuan cap drawn in.

    bins: {"bin": k, "count": n}, the movements with BINS_PER_DECADE * log10(amount) in
    [k, k+1); customary: {"amount": Decimal, "count": n}, movements of exactly that amount."""
    t = LABELS[lang]
    fig = _figure(t["amounts_title"], height=400)
    if bins:
        # a step line (bars cannot take widths on a log axis): each bin from its lower
        # edge, empty bins in between at zero
        by_bin = {int(b["bin"]): b["count"] for b in bins}
        lo, hi = min(by_bin), max(by_bin)
        edges = [10 ** (k / BINS_PER_DECADE) for k in range(lo, hi + 2)]
        counts = [by_bin.get(k, 0) for k in range(lo, hi + 1)] + [0]
        fig.add_trace(go.Scatter(
            x=[round(e, 4) for e in edges], y=counts, mode="lines", line={"shape": "hv", "color": "#4e79a7"},
            fill="tozeroy", name=t["distribution"],
            hovertemplate=f"≥ ¥%{{x:,.2f}}: %{{y}} {t['movements']}<extra></extra>",
        ))
    fig.add_trace(go.Scatter(
        x=[c["amount"] for c in customary], y=[c["count"] for c in customary], mode="markers+text",
        text=[f"¥{yuan(c['amount'])}" for c in customary], textposition="top center",
        marker={"size": 10, "color": "#e15759", "symbol": "diamond"}, name=t["customary"],
        hovertemplate=f"¥%{{x}}: %{{y}} {t['movements']}<extra></extra>",
    ))
    fig.update_layout(
        shapes=[{"type": "line", "xref": "x", "yref": "paper", "x0": float(PACKET_CAP), "x1": float(PACKET_CAP),
                 "y0": 0, "y1": 1, "line": {"color": "#c0392b", "width": 2, "dash": "dash"}}],
        annotations=[{"x": math.log10(float(PACKET_CAP)), "xref": "x", "y": 1, "yref": "paper", "text": t["cap"],
                      "showarrow": False, "xanchor": "left", "yanchor": "bottom", "font": {"color": "#c0392b"}}],
        xaxis={"type": "log", "title": t["amount"]}, yaxis_title=t["movements"],
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


def hour_weekday(cells: Sequence[dict], lang: str = "zh") -> go.Figure:
    """Heatmap of movements per hour of day × weekday.

    cells: {"weekday": 1..7 (Monday = 1), "hour": 0..23, "count": n}."""
    t = LABELS[lang]
    z = [[0] * 24 for _ in range(7)]
    for c in cells:
        z[int(c["weekday"]) - 1][int(c["hour"])] = int(c["count"])
    fig = _figure(t["heat_title"], height=340)
    fig.add_trace(go.Heatmap(
        z=z, x=list(range(24)), y=t["weekdays"], colorscale="YlOrRd", name=t["count"],
        hovertemplate=f"%{{y}} %{{x}}:00 — %{{z}} {t['movements']}<extra></extra>",
    ))
    fig.update_layout(xaxis={"title": t["hour"], "dtick": 1}, yaxis={"title": t["weekday"], "autorange": "reversed"})
    return fig


def largest_flows(flows: Sequence[dict], lang: str = "zh") -> go.Figure:
    """Horizontal bars of the largest flows between two parties.

    flows: {"payer": label, "payee": label, "amount": Decimal, "count": n}, largest first."""
    t = LABELS[lang]
    fig = _figure(t["flows_title"], height=max(260, 60 + 26 * len(flows)))
    fig.add_trace(go.Bar(
        y=[f"{esc(f['payer'])} → {esc(f['payee'])}" for f in flows], x=[f["amount"] for f in flows],
        customdata=[f["count"] for f in flows], orientation="h", marker_color="#59a14f", name=t["amount"],
        hovertemplate=f"%{{y}}<br>¥%{{x:,.2f}}<br>{t['count']}: %{{customdata}}<extra></extra>",
    ))
    fig.update_layout(xaxis_title=t["amount"], yaxis={"autorange": "reversed"})
    return fig


def _layout(n: int, edges: Sequence[tuple[int, int, float]], center: int | None = None, iterations: int = 100) -> np.ndarray:
    """Positions for a small graph (Fruchterman-Reingold, deterministic: starts on a circle).

    A `center` node is pinned at the origin (an ego network)."""
    if n == 0:
        return np.zeros((0, 2))
    angle = np.linspace(0, 2 * np.pi, n, endpoint=False)
    pos = np.column_stack([np.cos(angle), np.sin(angle)])
    if center is not None:
        pos[center] = 0.0
    if n == 1:
        return pos
    k = 1.0 / math.sqrt(n)
    temperature = 0.2
    src = np.array([a for a, _b, _w in edges], dtype=int)
    dst = np.array([b for _a, b, _w in edges], dtype=int)
    for _ in range(iterations):
        delta = pos[:, None, :] - pos[None, :, :]
        dist = np.maximum(np.linalg.norm(delta, axis=2), 1e-3)
        move = ((k * k / dist**2)[:, :, None] * delta).sum(axis=1)  # repulsion between every pair
        if len(src):  # attraction along the edges
            d = pos[src] - pos[dst]
            pull = d * (np.maximum(np.linalg.norm(d, axis=1), 1e-3) / k)[:, None]
            np.add.at(move, src, -pull)
            np.add.at(move, dst, pull)
        length = np.maximum(np.linalg.norm(move, axis=1), 1e-9)
        pos += move / length[:, None] * np.minimum(length, temperature)[:, None]
        if center is not None:
            pos[center] = 0.0
        temperature *= 0.96
    return pos


def network(nodes: Sequence[dict], edges: Sequence[dict], lang: str = "zh", title: str | None = None,
            center: str | None = None, height: int = 520) -> go.Figure:
    """The money network: nodes coloured by role, lines as wide as the money they carry.

    nodes: {"id", "label", "role": official | party_member | other | account, "marked":
    optional, named even in a crowded graph}; edges:
    {"source": id, "target": id, "amount": Decimal, "count": n} (direction: source paid
    target). `center`: the node to pin in the middle (an ego network)."""
    t = LABELS[lang]
    fig = _figure(title or t["network_title"], height=height)
    index = {n["id"]: i for i, n in enumerate(nodes)}
    edges = [e for e in edges if e["source"] in index and e["target"] in index and e["source"] != e["target"]]
    top = max((float(e["amount"]) for e in edges), default=1.0) or 1.0
    pos = _layout(len(nodes), [(index[e["source"]], index[e["target"]], float(e["amount"])) for e in edges],
                  index.get(center))
    # Scatter lines take one width per trace: edges go into four width classes.
    classes: dict[int, list[dict]] = {}
    for e in edges:
        classes.setdefault(min(3, int(4 * float(e["amount"]) / top)), []).append(e)
    for cls in sorted(classes):
        xs, ys = [], []
        for e in classes[cls]:
            (x0, y0), (x1, y1) = pos[index[e["source"]]], pos[index[e["target"]]]
            xs += [round(float(x0), 4), round(float(x1), 4), None]
            ys += [round(float(y0), 4), round(float(y1), 4), None]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"width": 1 + 2.5 * cls, "color": "rgba(90,90,90,0.45)"},
                                 hoverinfo="skip", showlegend=False))
    # hover on each edge's middle: who paid whom, how much
    fig.add_trace(go.Scatter(
        x=[round(float(pos[index[e["source"]]][0] + pos[index[e["target"]]][0]) / 2, 4) for e in edges],
        y=[round(float(pos[index[e["source"]]][1] + pos[index[e["target"]]][1]) / 2, 4) for e in edges],
        mode="markers", marker={"size": 6, "color": "rgba(90,90,90,0.35)"}, showlegend=False,
        text=[f"{esc(nodes[index[e['source']]]['label'])} → {esc(nodes[index[e['target']]]['label'])}: "
              f"¥{Decimal(e['amount']):,.2f} ({e['count']})" for e in edges],
        hovertemplate="%{text}<extra></extra>", name="edges",
    ))
    # A large graph shows the names of its marked nodes (the subjects of findings) only;
    # every node names itself on hover.
    crowded = len(nodes) > LABEL_ALL_UP_TO
    for role in ("official", "party_member", "other", "account"):
        members = [n for n in nodes if n["role"] == role]
        if not members:
            continue
        fig.add_trace(go.Scatter(
            x=[round(float(pos[index[n["id"]]][0]), 4) for n in members],
            y=[round(float(pos[index[n["id"]]][1]), 4) for n in members],
            mode="markers+text", name=t[role], textposition="top center", hovertext=[esc(n["label"]) for n in members],
            text=[esc(n["label"]) if not crowded or n.get("marked") or n["id"] == center else "" for n in members],
            marker={"size": [22 if n["id"] == center else 14 for n in members], "color": ROLE_COLOURS[role],
                    "line": {"width": [3 if n["id"] == center else 1 for n in members], "color": "#222"}},
            hovertemplate="%{hovertext}<extra></extra>",
        ))
    axis = {"visible": False, "showgrid": False, "zeroline": False}
    fig.update_layout(xaxis=axis, yaxis=axis, legend={"orientation": "h", "y": -0.05}, hovermode="closest")
    return fig


def org_sankey(links: Sequence[dict], lang: str = "zh") -> go.Figure:
    """Money between org units: paying units on the left, receiving units on the right.

    links: {"source": unit or None, "target": unit or None, "amount": Decimal, "count": n}
    (None: a party outside the roster, or a person with no unit)."""
    t = LABELS[lang]
    fig = _figure(t["sankey_title"], height=max(360, 40 + 24 * len(links)))
    def name(u):
        return esc(u) if u else t["outside"]
    left = list(dict.fromkeys(name(link["source"]) for link in links))
    right = list(dict.fromkeys(name(link["target"]) for link in links))
    labels = [f"{u} ({t['from']})" for u in left] + [f"{u} ({t['to']})" for u in right]
    fig.add_trace(go.Sankey(
        node={"label": labels, "pad": 12, "thickness": 14, "color": ["#4e79a7"] * len(left) + ["#59a14f"] * len(right)},
        link={
            "source": [left.index(name(link["source"])) for link in links],
            "target": [len(left) + right.index(name(link["target"])) for link in links],
            "value": [link["amount"] for link in links],
            "customdata": [link["count"] for link in links],
            "hovertemplate": f"%{{source.label}} → %{{target.label}}<br>¥%{{value:,.2f}}<br>{t['count']}: %{{customdata}}<extra></extra>",
        },
        valueformat=",.2f",
    ))
    return fig


def evidence_timeline(rows: Sequence[dict], start: datetime | None = None, end: datetime | None = None,
                      window: dict | None = None, lang: str = "zh") -> go.Figure:
    """The finding's evidence movements over time, one colour per counterparty (the ten
    largest; the rest as "others"), the finding's span shaded, its rule window too.

    rows: {"ts": datetime, "amount": Decimal, "party": label (the other side), "kind"};
    window: {"name", "kind", "start": date, "end": date} or None."""
    t = LABELS[lang]
    fig = _figure(t["evidence_title"], height=360)
    totals: dict[str, Decimal] = {}
    for r in rows:
        totals[r["party"]] = totals.get(r["party"], Decimal(0)) + Decimal(r["amount"])
    keep = set(sorted(totals, key=lambda p: (-totals[p], p))[:10])
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["party"] if r["party"] in keep else None, []).append(r)
    for party in sorted(groups, key=lambda p: (p is None, -totals.get(p, 0) if p else 0, p or "")):
        members = groups[party]
        fig.add_trace(go.Scatter(
            x=[r["ts"] for r in members], y=[r["amount"] for r in members], mode="markers",
            name=esc(party) if party is not None else t["others"], marker={"size": 9},
            text=[esc(r.get("kind") or "") for r in members],
            hovertemplate="%{x|%Y-%m-%d %H:%M:%S}<br>¥%{y:,.2f} %{text}<extra>%{fullData.name}</extra>",
        ))
    shapes, annotations = [], []
    if window:
        shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": window["start"],
                       "x1": window["end"] + timedelta(days=1), "y0": 0, "y1": 1, "layer": "below",
                       "fillcolor": WINDOW_COLOURS.get(window["kind"], WINDOW_COLOURS["custom"]), "line": {"width": 0}})
        annotations.append({"x": window["start"], "xref": "x", "y": 1, "yref": "paper", "showarrow": False,
                            "xanchor": "left", "yanchor": "bottom", "font": {"size": 10},
                            "text": f"{t.get(window['kind'], t['custom'])}: {esc(window['name'])}"})
    if start and end:
        shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": start, "x1": end, "y0": 0, "y1": 1,
                       "layer": "below", "fillcolor": "rgba(240, 173, 0, 0.18)",
                       "line": {"width": 1, "color": "rgba(240, 173, 0, 0.9)", "dash": "dot"}})
        annotations.append({"x": start, "xref": "x", "y": 0.92, "yref": "paper", "showarrow": False,
                            "xanchor": "left", "text": t["finding_span"], "font": {"size": 10}})
    fig.update_layout(shapes=shapes, annotations=annotations, xaxis_title=t["day"],
                      yaxis={"title": t["amount"], "rangemode": "tozero"}, legend={"orientation": "h", "y": -0.3})
    return fig


def person_timeline(rows: Sequence[dict], lang: str = "zh") -> go.Figure:
    """Money a person sent and received, per day, or per month when the span is long.

    rows: {"day": date, "sent": Decimal, "received": Decimal}."""
    t = LABELS[lang]
    fig = _figure(t["person_title"], height=340)
    days = sorted(rows, key=lambda r: r["day"])
    if days and (days[-1]["day"] - days[0]["day"]).days > 120:
        monthly: dict[date, list[Decimal]] = {}
        for r in days:
            m = monthly.setdefault(r["day"].replace(day=1), [Decimal(0), Decimal(0)])
            m[0] += Decimal(r["sent"])
            m[1] += Decimal(r["received"])
        days = [{"day": d, "sent": s, "received": rcv} for d, (s, rcv) in sorted(monthly.items())]
        fmt = "%Y-%m"
    else:
        fmt = "%Y-%m-%d"
    fig.add_trace(go.Bar(x=[r["day"] for r in days], y=[r["sent"] for r in days], name=t["sent"], marker_color="#e15759",
                         hovertemplate=f"%{{x|{fmt}}} {t['sent']} ¥%{{y:,.2f}}<extra></extra>"))
    fig.add_trace(go.Bar(x=[r["day"] for r in days], y=[r["received"] for r in days], name=t["received"],
                         marker_color="#59a14f", hovertemplate=f"%{{x|{fmt}}} {t['received']} ¥%{{y:,.2f}}<extra></extra>"))
    fig.update_layout(barmode="group", xaxis_title=t["day"], yaxis_title=t["amount"], legend={"orientation": "h", "y": -0.3})
    return fig
