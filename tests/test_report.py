"""`rpa report`: the offline HTML report — figure data, page structure, manifest and the
case's record of it, masking, escaping, path safety, triage shown, languages.

One module-scoped world (two rule cases merged, with hostile names and ids) is built
once; the reports built from it are shared by the tests. The browser checks are in
test_report_browser.py."""

from __future__ import annotations

import hashlib
import html
import json
import re
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import plotly
import pytest

from analyzer import figures as figs
from analyzer.paths import queries_dir
from tests.helpers import query, rpa
from tests.rule_world import build_case, load_case
from tests.test_world import namespaced

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "</script><script>alert(1)</script>"
HOSTILE_ACCOUNT = "<b>昵称</b><img src=x onerror=alert(3)>"
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def build_world(folder: Path) -> dict:
    """A case with findings of two rules, names and ids that attack HTML and paths,
    triage decisions and a stale finding. Returns what the tests need to know."""
    merged = {"persons": [], "relations": [], "windows": [], "events": [], "transactions": []}
    for prefix, rule in (("A_", "election_mass_transfer"), ("B_", "unreturned_gift")):
        part = namespaced(prefix, load_case(rule))
        for key in merged:
            merged[key] += part[key]
    # person ids that would climb out of the report folder if used as file names
    renamed = {"A_P001": "../../x", "B_P301": "a/b"}
    for p in merged["persons"]:
        p["person_id"] = renamed.get(p["person_id"], p["person_id"])
    for r in merged["relations"]:
        r["person_id"] = renamed.get(r["person_id"], r["person_id"])
        r["other_id"] = renamed.get(r["other_id"], r["other_id"])
    for e in merged["events"]:
        e["person_id"] = renamed.get(e["person_id"], e["person_id"])
    names = {p["person_id"]: p for p in merged["persons"]}
    names["A_P002"]["name"] = IMG           # a roster name that is markup
    names["A_P003"]["name"] = SCRIPT        # and one that closes the script
    for t in merged["transactions"]:
        if t["txn_id"] == "A_E1":
            t["memo"] = "<img src=x onerror=alert(2)>恭喜"
    # a WeChat nickname outside the roster that is markup, paid by the election's subject
    merged["transactions"].append({"txn_id": "A_X1", "ts": "2026-01-20 09:00:00", "payer": "A_wxid_wjg",
                                   "payee": HOSTILE_ACCOUNT, "amount": 66, "kind": "transfer"})
    case = build_case(folder, merged)
    assert rpa("scan", "--case", case).exit_code == 0
    findings = {rule: [r[0] for r in query(case, "SELECT id FROM findings WHERE rule = ? ORDER BY id", [rule])]
                for rule in ("election_mass_transfer", "unreturned_gift")}
    election = findings["election_mass_transfer"][0]
    assert rpa("triage", election, "--status", "reviewing", "--note", "约谈前核实", "--by", "李明", "--case", case).exit_code == 0
    assert rpa("triage", election, "--status", "confirmed", "--note", "谈话核实，承认拉票", "--by", "王审", "--case", case).exit_code == 0
    # a threshold raised for one run: the election finding goes stale (kept, with its decisions)
    result = rpa("scan", "--rule", "election_mass_transfer", "--param", "election_mass_transfer.min_recipients=50", "--case", case)
    assert result.exit_code == 0, result.output
    assert query(case, "SELECT stale FROM findings WHERE id = ?", [election])[0][0] is True
    return {"case": case, "persons": merged["persons"], "windows": merged["windows"], "findings": findings,
            "election": election, "transactions": merged["transactions"]}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    w = build_world(folder / "case")
    case = w["case"]
    result = rpa("report", "--by", "测试员", "--case", case)
    assert result.exit_code == 0, result.output
    w["zh"] = Path(result.stdout.strip().splitlines()[-1]).parent
    result = rpa("report", "--lang", "en", "--mask", "--out", folder / "masked", "--case", case)
    assert result.exit_code == 0, result.output
    w["masked"] = folder / "masked"
    return w


def files_of(report: Path) -> dict[str, bytes]:
    return {p.relative_to(report).as_posix(): p.read_bytes() for p in sorted(report.rglob("*")) if p.is_file()}


def plots(html_text: str) -> dict[str, tuple[list, dict]]:
    """(data, layout) of every figure on a page, by div id, as Plotly.newPlot receives them."""
    decoder = json.JSONDecoder()
    out = {}
    for m in re.finditer(r'Plotly\.newPlot\(\s*"([^"]+)",\s*', html_text):
        data, end = decoder.raw_decode(html_text, m.end())
        layout, _ = decoder.raw_decode(html_text, html_text.index("{", end))
        out[m.group(1)] = (data, layout)
    return out


def page_figures(html_text: str) -> dict[str, list]:
    """The data (traces) of every figure on a page, by div id."""
    return {k: data for k, (data, _) in plots(html_text).items()}


# --------------------------------------------------------------------------- figures


def test_daily_volume_shades_windows_and_marks_seasons():
    days = [{"day": date(2026, 1, 12), "amount": Decimal("1188.88"), "count": 6},
            {"day": date(2026, 2, 16), "amount": Decimal("200.00"), "count": 1}]
    windows = [{"name": "2026 换届", "kind": "election", "start": date(2026, 1, 5), "end": date(2026, 3, 31)},
               {"name": "2025 调整", "kind": "promotion", "start": date(2025, 6, 1), "end": date(2025, 8, 31)}]
    seasons = [{"name": "春节 2026", "start": date(2026, 2, 10), "end": date(2026, 3, 3)}]
    fig = figs.daily_volume(days, windows, seasons, "zh").to_dict()
    bars = fig["data"][0]
    assert list(bars["y"]) == [Decimal("1188.88"), Decimal("200.00")] and list(bars["customdata"]) == [6, 1]
    rects = [s for s in fig["layout"]["shapes"] if s["yref"] == "paper" and s["y1"] == 1]
    assert [(str(s["x0"]), str(s["x1"])) for s in rects] == [("2026-01-05", "2026-04-01"), ("2025-06-01", "2025-09-01")]
    assert rects[0]["fillcolor"] == figs.WINDOW_COLOURS["election"] and rects[1]["fillcolor"] == figs.WINDOW_COLOURS["promotion"]
    assert [a["text"] for a in fig["layout"]["annotations"]] == ["换届: 2026 换届", "选拔任用: 2025 调整"]
    season = fig["data"][1]
    assert list(season["text"]) == ["春节 2026: 2026-02-10 – 2026-03-03"]
    assert fig["layout"]["yaxis"]["title"]["text"] == "金额（元）"
    assert figs.daily_volume(days, windows, seasons, "en").to_dict()["layout"]["yaxis"]["title"]["text"] == "Amount (yuan)"


def test_amount_distribution_shows_customary_amounts_and_the_cap():
    bins = [{"bin": 16, "count": 3}, {"bin": 18, "count": 17}]  # 10^(16/20) ≈ 6.31 … 10^(18/20) ≈ 7.94 …
    customary = [{"amount": Decimal("6.66"), "count": 2}, {"amount": Decimal("200.00"), "count": 17}]
    fig = figs.amount_distribution(bins, customary, "zh").to_dict()
    step, marks = fig["data"]
    assert list(step["x"]) == [6.3096, 7.0795, 7.9433, 8.9125] and list(step["y"]) == [3, 0, 17, 0]
    assert step["line"]["shape"] == "hv"
    assert list(marks["x"]) == [Decimal("6.66"), Decimal("200.00")] and list(marks["text"]) == ["¥6.66", "¥200"]
    (cap,) = fig["layout"]["shapes"]
    assert cap["x0"] == cap["x1"] == 200.0 and fig["layout"]["xaxis"]["type"] == "log"
    assert fig["layout"]["annotations"][0]["text"] == "单个红包上限¥200"


def test_hour_weekday_heatmap_puts_counts_in_their_cells():
    fig = figs.hour_weekday([{"weekday": 1, "hour": 20, "count": 5}, {"weekday": 7, "hour": 0, "count": 2}], "en").to_dict()
    z = fig["data"][0]["z"]
    assert len(z) == 7 and all(len(row) == 24 for row in z)
    assert z[0][20] == 5 and z[6][0] == 2 and sum(map(sum, z)) == 7
    assert list(fig["data"][0]["y"]) == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def test_network_colours_roles_widens_edges_and_escapes_labels():
    nodes = [{"id": "P1", "label": "王书记", "role": "official"}, {"id": "P2", "label": IMG, "role": "party_member"},
             {"id": "P3", "label": "张三", "role": "other"}, {"id": "acc", "label": "wxid_x", "role": "account"}]
    edges = [{"source": "P2", "target": "P1", "amount": Decimal(10000), "count": 3},
             {"source": "P3", "target": "P1", "amount": Decimal(100), "count": 1},
             {"source": "acc", "target": "nobody", "amount": Decimal(5), "count": 1}]  # an edge to no node is dropped
    fig = figs.network(nodes, edges, "zh", center="P1").to_dict()
    node_traces = {t["name"]: t for t in fig["data"] if t.get("mode") == "markers+text"}
    assert set(node_traces) == {"公职人员", "党员", "其他人员", "名单外账户"}
    assert node_traces["公职人员"]["marker"]["color"] == figs.ROLE_COLOURS["official"]
    assert list(node_traces["党员"]["text"]) == ["&lt;img src=x onerror=alert(1)&gt;"]
    assert list(node_traces["公职人员"]["x"]) == [0.0] and list(node_traces["公职人员"]["y"]) == [0.0]  # the centre
    widths = sorted(t["line"]["width"] for t in fig["data"] if t.get("mode") == "lines")
    assert widths == [1, 8.5]  # the small edge thin, the largest in the widest class
    (hover,) = [t for t in fig["data"] if t.get("name") == "edges"]
    assert list(hover["text"]) == ["&lt;img src=x onerror=alert(1)&gt; → 王书记: ¥10,000.00 (3)", "张三 → 王书记: ¥100.00 (1)"]


def test_org_sankey_links_paying_units_to_receiving_units():
    links = [{"source": "古云村", "target": "交通局", "amount": Decimal(500), "count": 2},
             {"source": None, "target": "古云村", "amount": Decimal(80), "count": 1},
             {"source": "古云村", "target": "古云村", "amount": Decimal(20), "count": 4}]
    fig = figs.org_sankey(links, "zh").to_dict()
    sankey = fig["data"][0]
    assert list(sankey["node"]["label"]) == ["古云村 (付)", "名单外 / 未填单位 (付)", "交通局 (收)", "古云村 (收)"]
    assert list(sankey["link"]["source"]) == [0, 1, 0] and list(sankey["link"]["target"]) == [2, 3, 3]
    assert list(sankey["link"]["value"]) == [Decimal(500), Decimal(80), Decimal(20)]


def test_evidence_timeline_groups_counterparties_and_shades_the_span():
    rows = [{"ts": datetime(2026, 1, 1, 10, 0, i), "amount": Decimal(100 + i), "party": f"P{i}", "kind": "red_packet"}
            for i in range(12)]
    window = {"name": "换届", "kind": "election", "start": date(2026, 1, 1), "end": date(2026, 1, 31)}
    fig = figs.evidence_timeline(rows, datetime(2026, 1, 1, 10), datetime(2026, 1, 1, 11), window, "en").to_dict()
    names = [t["name"] for t in fig["data"]]
    assert names[:10] == [f"P{i}" for i in range(11, 1, -1)] and names[10] == "others"  # the ten largest, then the rest
    assert [str(y) for y in fig["data"][10]["y"]] == ["100", "101"]
    x0s = [str(s["x0"]) for s in fig["layout"]["shapes"]]
    assert x0s == ["2026-01-01", "2026-01-01 10:00:00"]


def test_person_timeline_goes_monthly_over_long_spans():
    rows = [{"day": date(2026, 1, 3), "sent": Decimal(10), "received": Decimal(0)},
            {"day": date(2026, 1, 20), "sent": Decimal(5), "received": Decimal(7)},
            {"day": date(2026, 8, 1), "sent": Decimal(0), "received": Decimal(200)}]
    sent, received = figs.person_timeline(rows, "zh").to_dict()["data"]
    assert [str(x) for x in sent["x"]] == ["2026-01-01", "2026-08-01"]
    assert list(sent["y"]) == [Decimal(15), Decimal(0)] and list(received["y"]) == [Decimal(7), Decimal(200)]
    short = figs.person_timeline(rows[:2], "zh").to_dict()["data"][0]
    assert [str(x) for x in short["x"]] == ["2026-01-03", "2026-01-20"]


# --------------------------------------------------------------------------- the report


def test_pages_link_to_each_other_and_every_link_resolves(world):
    report = world["zh"]
    files = files_of(report)
    finding_ids = world["findings"]["election_mass_transfer"] + world["findings"]["unreturned_gift"]
    assert {f"findings/{fid}.html" for fid in finding_ids} <= set(files)
    index = files["index.html"].decode("utf-8")
    for fid in finding_ids:
        assert f'href="findings/{fid}.html"' in index
    persons = [p for p in files if p.startswith("persons/")]
    subjects = {r[0] for r in query(world["case"], "SELECT DISTINCT subject FROM findings")}
    assert len(persons) == len(subjects)
    for rel, raw in files.items():
        if not rel.endswith(".html"):
            continue
        text = raw.decode("utf-8")
        for href in re.findall(r'(?:href|src)="([^"]+)"', text):
            target = (report / rel).parent / href
            assert target.resolve().is_relative_to(report.resolve()) and target.is_file(), (rel, href)
        if rel != "index.html":
            assert 'href="../index.html"' in text
        assert '<script src="' in text and "assets/plotly.min.js" in text


def test_overview_figures_hold_the_case_aggregates(world):
    case = world["case"]
    index = (world["zh"] / "index.html").read_text(encoding="utf-8")
    fig = page_figures(index)
    assert set(fig) == {"fig-findings-by-rule", "fig-daily", "fig-amounts", "fig-heatmap", "fig-flows", "fig-network", "fig-sankey"}
    daily = query(case, "SELECT CAST(ts AS DATE)::VARCHAR, sum(amount), count(*) FROM movements GROUP BY 1 ORDER BY 1")
    bars = fig["fig-daily"][0]
    assert bars["x"] == [d for d, _, _ in daily]
    assert [Decimal(str(y)) for y in bars["y"]] == [a for _, a, _ in daily] and bars["customdata"] == [n for *_, n in daily]
    heat = fig["fig-heatmap"][0]["z"]
    assert sum(map(sum, heat)) == query(case, "SELECT count(*) FROM movements")[0][0]
    n200 = query(case, "SELECT count(*) FROM movements WHERE amount = 200")[0][0]
    marks = fig["fig-amounts"][1]
    assert dict(zip(marks["x"], marks["y"]))[200.0] == n200
    (top_total,) = query(
        case, """SELECT sum(amount) AS s FROM movements WHERE coalesce(payer_person, payer) <> coalesce(payee_person, payee)
                 GROUP BY coalesce(payer_person, payer), coalesce(payee_person, payee) ORDER BY s DESC LIMIT 1""")[0]
    flows = fig["fig-flows"][0]
    assert Decimal(str(flows["x"][0])) == top_total
    # the Sankey: money between units, never a unit to itself
    sankey = fig["fig-sankey"][0]
    labels = [label.rsplit(" (", 1)[0] for label in sankey["node"]["label"]]
    links = list(zip(sankey["link"]["source"], sankey["link"]["target"]))
    assert links and all(labels[a] != labels[b] for a, b in links)
    # the election window of the case is shaded on the timeline, its name on it
    layout = plots(index)["fig-daily"][1]
    (window,) = world["windows"]
    shaded = [s for s in layout["shapes"] if s["y1"] == 1]
    assert [(s["x0"], s["x1"]) for s in shaded] == [(str(window["start"]), "2026-04-01")]
    assert layout["annotations"][0]["text"] == f"换届: {window['name']}"
    # and festive seasons are marked: 春节 2026 among them
    assert any(t.startswith("春节 2026: 2026-02-") for t in fig["fig-daily"][1]["text"])
    key = query(case, "SELECT count(*), sum(amount) FROM movements")[0]
    assert f"<b>{key[0]:,}</b>" in index and f"¥{key[1]:,.2f}" in index


def test_index_counts_findings_by_rule_severity_and_status(world):
    index = (world["zh"] / "index.html").read_text(encoding="utf-8")
    by_rule = page_figures(index)["fig-findings-by-rule"]
    counts = dict(query(world["case"], "SELECT rule, count(*) FROM findings WHERE NOT stale GROUP BY 1"))
    high = dict(zip(by_rule[0]["y"], by_rule[0]["x"]))
    # the stale election finding is not counted among the active ones
    assert sum(sum(t["x"]) for t in by_rule) == sum(counts.values())
    assert high.get("收受下属、管理服务对象红包、转账未退还", 0) == query(
        world["case"], "SELECT count(*) FROM findings WHERE rule = 'unreturned_gift' AND severity = 'high' AND NOT stale")[0][0]
    # statuses: one confirmed (the election finding), the rest new
    status_table = index.split("核查状态", 1)[1].split("</table>", 1)[0]
    total = query(world["case"], "SELECT count(*) FROM findings")[0][0]
    assert "<td>属实</td><td class=\"num\">1</td>" in status_table
    assert f"<td>新线索</td><td class=\"num\">{total - 1}</td>" in status_table


def test_finding_page_shows_reason_thresholds_triage_history_and_evidence(world):
    fid = world["election"]
    page = (world["zh"] / "findings" / f"{fid}.html").read_text(encoding="utf-8")
    (reason,) = query(world["case"], "SELECT reason_zh FROM findings WHERE id = ?", [fid])[0]
    assert f'<p class="reason">{reason.replace("<", "&lt;").replace(">", "&gt;")}</p>' in page
    assert "<td>min_recipients</td><td>5</td>" in page  # the parameter the finding was given with
    # triage: the current status and the whole history with notes, who and when
    assert "当前状态: <b>属实</b>" in page
    history = page.split("<h2>核查记录</h2>", 1)[1].split("<tbody>", 1)[1].split("</table>", 1)[0]
    assert re.findall(r"<tr><td>([^<]+)</td>", history) == ["核查中", "属实"]  # oldest first
    assert "约谈前核实" in history and "谈话核实，承认拉票" in history and "李明" in history and "王审" in history
    assert "已失效" in page  # stale, marked
    evidence = query(world["case"], """SELECT t.txn_id FROM finding_evidence e JOIN transactions t ON t.id = e.transaction_id
                                       WHERE e.finding_id = ? ORDER BY t.ts, t.id""", [fid])
    table = page.split("证据（资金往来）", 1)[1].split("</table>", 1)[0]
    assert re.findall(r'<td class="mono">([^<]+)</td>', table) == [t for (t,) in evidence]
    figures = page_figures(page)
    assert set(figures) == {"fig-evidence", "fig-ego"}
    assert sum(len(t["x"]) for t in figures["fig-evidence"]) == len(evidence)


def test_person_page_shows_roster_accounts_counterparties_and_findings(world):
    report = world["zh"]
    index = (report / "index.html").read_text(encoding="utf-8")
    # the election's subject is the person whose id is ../../x: its page is named by a hash
    link = re.search(r'<a href="(persons/[0-9a-f]{16}\.html)">王建国（\.\./\.\./x）</a>', index)
    assert link, "the subject links to its page"
    page = (report / link.group(1)).read_text(encoding="utf-8")
    assert "<td>王建国</td><td>../../x</td><td>是</td><td>是</td><td>A_古云村党支部</td><td>支部书记</td><td>3</td>" in page
    assert "A_wxid_wjg" in page  # his account, from the roster and the data
    assert "A_P009" in page and "家属" in page  # his wife, by relation
    counterparties = page.split("<h2>对方</h2>", 1)[1].split("</table>", 1)[0]
    assert "&lt;b&gt;昵称&lt;/b&gt;&lt;img src=x onerror=alert(3)&gt;" in counterparties
    assert f'findings/{world["election"]}.html' in page
    assert set(page_figures(page)) == {"fig-person-timeline"}


def test_no_network_reference_and_plotly_shipped_once(world):
    for report in (world["zh"], world["masked"]):
        files = files_of(report)
        assert files["assets/plotly.min.js"] == PLOTLY_JS.read_bytes()
        assert sum(1 for rel in files if rel.endswith(".js")) == 1
        for rel, raw in files.items():
            if rel.endswith(".html"):
                text = raw.decode("utf-8")
                assert not re.search(r'(?:src|href)\s*=\s*["\']?\s*(?:https?:)?//', text, re.IGNORECASE), rel
                assert "Content-Security-Policy" in text and "cdn" not in text.lower()
                assert text.count("plotly.min.js") == 1


def test_manifest_lists_every_file_and_the_case_records_its_hash(world):
    report, case = world["zh"], world["case"]
    files = files_of(report)
    manifest = json.loads(files["manifest.json"])
    listed = {f["path"]: f["sha256"] for f in manifest["files"]}
    assert set(listed) == set(files) - {"manifest.json"}
    for rel, digest in listed.items():
        assert hashlib.sha256(files[rel]).hexdigest() == digest
    from analyzer import __version__

    assert manifest["generator"] == "rpa report" and manifest["rpa_version"] == __version__ and manifest["lang"] == "zh"
    assert [s["sha256"] for s in manifest["sources"]] == [r[0] for r in query(case, "SELECT sha256 FROM sources ORDER BY source_id")]
    last = manifest["scans"][-1]
    (rule,) = last["rules"]
    sql = (queries_dir() / "election_mass_transfer.sql").read_bytes()
    assert rule["id"] == "election_mass_transfer" and rule["sha256"] == hashlib.sha256(sql).hexdigest()
    assert rule["params"]["min_recipients"] == 50
    # the index embeds the manifest (all but the file list)
    embedded = re.search(r"<pre>(.*?)</pre>", files["index.html"].decode("utf-8"), re.DOTALL).group(1)
    assert json.loads(html.unescape(embedded)) == {k: v for k, v in manifest.items() if k != "files"}
    # the case: the report's row (sha256 of manifest.json) and its audit entry
    digest = hashlib.sha256(files["manifest.json"]).hexdigest()
    row = query(case, "SELECT path, sha256, lang, masked, actor FROM reports WHERE sha256 = ?", [digest])
    assert row == [(str(report), digest, "zh", False, "测试员")]
    entry = query(case, "SELECT actor, details FROM audit_log WHERE action = 'report' ORDER BY seq")
    assert entry[0][0] == "测试员" and json.loads(entry[0][1])["sha256"] == digest
    assert json.loads(entry[1][1])["masked"] is True
    assert rpa("verify", "--case", case).exit_code == 0  # the chain holds with the report entries


def test_escaping_keeps_markup_from_the_data_as_text(world):
    for report in (world["zh"],):
        for rel, raw in files_of(report).items():
            if not rel.endswith((".html", ".json")):
                continue
            text = raw.decode("utf-8")
            assert "<img" not in text and "</script><script>alert" not in text and "<b>昵称" not in text, rel
    index = (world["zh"] / "index.html").read_text(encoding="utf-8")
    assert "&lt;img src=x onerror=alert(1)&gt;" in index  # the hostile name, as text
    # inside the figures' JSON the markup is escaped for Plotly, and the script tag cannot close
    assert "\\u003c\\u002fscript\\u003e" in index or "&lt;/script&gt;" in index
    page = (world["zh"] / "findings" / f"{world['election']}.html").read_text(encoding="utf-8")
    assert "&lt;img src=x onerror=alert(2)&gt;恭喜" in page  # the memo, as text


def test_page_names_come_from_ids_we_control(world):
    for report in (world["zh"], world["masked"]):
        names = set(files_of(report))
        allowed = re.compile(r"index\.html|manifest\.json|assets/(plotly\.min\.js|report\.css)|findings/F[0-9A-F]{11}\.html"
                             r"|persons/[0-9a-f]{16}\.html")
        assert all(allowed.fullmatch(n) for n in names), names
        assert not list(report.parent.glob("x*")) and not (report / "persons" / "a").exists()
    assert not (world["case"].parent.parent / "x.html").exists()


def test_masked_report_holds_no_name_id_account_unit_or_memo(world):
    report, case = world["masked"], world["case"]
    secrets = set()
    for p in world["persons"]:
        secrets |= {p["person_id"], p.get("name", ""), *p.get("accounts", []), p.get("org_unit", "")}
    secrets |= {w["name"] for w in world["windows"]} | {HOSTILE_ACCOUNT, "恭喜", "约谈前核实", "谈话核实", "王审", "李明"}
    secrets |= {t["txn_id"] for t in world["transactions"]}
    secrets |= {r[0] for r in query(case, "SELECT name FROM sources")} | {str(case)}
    secrets = {s for s in secrets if s}  # any length
    assert len(secrets) > 50
    files = files_of(report)
    assert files["assets/plotly.min.js"] == PLOTLY_JS.read_bytes()  # verbatim: not searched
    for rel, raw in files.items():
        if rel == "assets/plotly.min.js":
            continue
        for s in secrets:
            for form in {s, json.dumps(s, ensure_ascii=False)[1:-1], json.dumps(s)[1:-1],
                         s.replace("<", "&lt;").replace(">", "&gt;")}:
                assert form.encode("utf-8") not in raw, (rel, s)
    # the key stays in the case, never in the report
    key = query(case, "SELECT value FROM meta WHERE key = 'mask_key'")[0][0]
    assert len(key) == 64 and all(key.encode() not in raw for raw in files.values())
    index = files["index.html"].decode("utf-8")
    assert re.search(r"Person-[0-9a-f]{8}", index) and "Masked report" in index
    assert '<html lang="en">' in index and "Evidence" in files[next(p for p in files if p.startswith("findings/"))].decode()


def test_masked_pseudonyms_are_stable_and_keyed(world, tmp_path):
    result = rpa("report", "--mask", "--lang", "en", "--out", tmp_path / "again", "--case", world["case"])
    assert result.exit_code == 0, result.output
    first = (world["masked"] / "index.html").read_text(encoding="utf-8")
    again = (tmp_path / "again" / "index.html").read_text(encoding="utf-8")
    pseudonyms = set(re.findall(r"Person-[0-9a-f]{8}", first))
    assert pseudonyms and pseudonyms == set(re.findall(r"Person-[0-9a-f]{8}", again))
    # keyed: not a plain hash of the id
    plain = {hashlib.sha256(f"person\x00{p['person_id']}".encode()).hexdigest()[:8] for p in world["persons"]}
    assert not {p.split("-")[1] for p in pseudonyms} & plain


def test_lang_en_and_zh_labels(world, tmp_path):
    zh = (world["zh"] / "index.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in zh and "关键数字" in zh and json.dumps("每日资金往来")[1:-1] in zh  # a figure title
    result = rpa("report", "--lang", "en", "--out", tmp_path / "en", "--case", world["case"])
    assert result.exit_code == 0
    en = (tmp_path / "en" / "index.html").read_text(encoding="utf-8")
    assert "Key figures" in en and "Money moved per day" in en and "关键数字" not in en
    assert page_figures(en)["fig-heatmap"][0]["y"] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    bad = rpa("report", "--lang", "fr", "--out", tmp_path / "fr", "--case", world["case"])
    assert bad.exit_code == 2 and "zh or en" in bad.stderr and not (tmp_path / "fr").exists()


def test_finding_and_person_restrict_the_report(world, tmp_path):
    fid = world["findings"]["unreturned_gift"][0]
    result = rpa("report", "--finding", fid.lower(), "--out", tmp_path / "one", "--case", world["case"])
    assert result.exit_code == 0, result.output
    names = set(files_of(tmp_path / "one"))
    assert {n for n in names if n.startswith("findings/")} == {f"findings/{fid}.html"}
    assert len([n for n in names if n.startswith("persons/")]) == 1
    manifest = json.loads((tmp_path / "one" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["scope"] == {"findings": [fid], "persons": []} and manifest["findings"]["pages"] == [fid]
    # --person: that person's findings (the subject a/b has all of unreturned_gift's high one)
    result = rpa("report", "--person", "a/b", "--out", tmp_path / "ab", "--case", world["case"])
    assert result.exit_code == 0, result.output
    pages = json.loads((tmp_path / "ab" / "manifest.json").read_text(encoding="utf-8"))["findings"]["pages"]
    assert set(pages) == {r[0] for r in query(world["case"], "SELECT id FROM findings WHERE subject = 'a/b'")}
    # the charts count only the movements that involve the chosen persons
    daily = page_figures((tmp_path / "ab" / "index.html").read_text(encoding="utf-8"))["fig-daily"][0]
    n = query(world["case"], "SELECT count(*) FROM movements WHERE payer_person = 'a/b' OR payee_person = 'a/b'")[0][0]
    assert sum(daily["customdata"]) == n
    unknown = rpa("report", "--finding", "FFFFFFFFFFFF", "--out", tmp_path / "none", "--case", world["case"])
    assert unknown.exit_code == 2 and "no finding" in unknown.stderr and not (tmp_path / "none").exists()


def test_out_replaces_an_earlier_report_but_nothing_else(world, tmp_path):
    target = tmp_path / "r"
    assert rpa("report", "--out", target, "--case", world["case"]).exit_code == 0
    first = (target / "manifest.json").read_bytes()
    assert rpa("report", "--out", target, "--lang", "en", "--case", world["case"]).exit_code == 0
    assert (target / "manifest.json").read_bytes() != first and "Key figures" in (target / "index.html").read_text(encoding="utf-8")
    other = tmp_path / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("keep", encoding="utf-8")
    result = rpa("report", "--out", other, "--case", world["case"])
    assert result.exit_code == 2 and "holds no rpa report" in result.stderr
    assert [p.name for p in other.iterdir()] == ["mine.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folders left


def test_a_failed_report_leaves_nothing(world, tmp_path, monkeypatch):
    from analyzer.report import render

    reports_before = query(world["case"], "SELECT count(*) FROM reports")[0][0]
    log_before = query(world["case"], "SELECT max(seq) FROM audit_log")[0][0]

    def broken(self, party):  # a failure half-way: the finding pages are written, a person page fails
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(render.Renderer, "person_page", broken)
    result = rpa("report", "--out", tmp_path / "r", "--case", world["case"])
    assert result.exit_code == 2 and "cannot write the report" in result.stderr
    assert list(tmp_path.iterdir()) == []
    assert query(world["case"], "SELECT count(*) FROM reports")[0][0] == reports_before
    assert query(world["case"], "SELECT max(seq) FROM audit_log")[0][0] == log_before


def test_report_of_a_case_without_findings_or_movements(tmp_path):
    assert rpa("init", tmp_path / "empty").exit_code == 0
    result = rpa("report", "--case", tmp_path / "empty")
    assert result.exit_code == 0, result.output
    index = Path(result.stdout.strip().splitlines()[-1])
    assert index.is_file() and "0 finding pages" in result.stdout
    text = index.read_text(encoding="utf-8")
    assert "<b>0</b>" in text and set(page_figures(text)) >= {"fig-daily", "fig-network"}


def test_a_crowded_network_names_only_its_marked_nodes():
    nodes = [{"id": f"P{i}", "label": f"人{i}", "role": "other", "marked": i < 3} for i in range(figs.LABEL_ALL_UP_TO + 1)]
    edges = [{"source": f"P{i}", "target": f"P{i + 1}", "amount": Decimal(10), "count": 1} for i in range(len(nodes) - 1)]
    (trace,) = [t for t in figs.network(nodes, edges, "zh").to_dict()["data"] if t.get("mode") == "markers+text"]
    assert list(trace["text"]) == ["人0", "人1", "人2"] + [""] * (len(nodes) - 3)
    assert list(trace["hovertext"]) == [f"人{i}" for i in range(len(nodes))]
    small = figs.network(nodes[:5], edges[:4], "zh").to_dict()["data"]
    assert [list(t["text"]) for t in small if t.get("mode") == "markers+text"] == [[f"人{i}" for i in range(5)]]


def test_verify_rehashes_recorded_reports(world, tmp_path):
    case = world["case"]
    made = rpa("report", "--out", tmp_path / "r", "--case", case)
    assert made.exit_code == 0
    ok = rpa("verify", "--case", case)
    assert ok.exit_code == 0 and f"intact: {tmp_path / 'r'}" in ok.stdout, ok.stdout
    page = next((tmp_path / "r" / "findings").glob("*.html"))
    page.write_bytes(page.read_bytes().replace(b"</body>", b"<p>added later</p></body>"))
    (tmp_path / "r" / "extra.html").write_text("x")
    bad = rpa("verify", "--case", case)
    assert bad.exit_code == 1
    assert f"changed: {tmp_path / 'r'} (1 file(s) changed or gone: findings/{page.name}; 1 file(s) added: extra.html)" in bad.stdout
    assert "NOT INTACT: 1 report(s) changed" in bad.stdout
    # a report moved away is noted, not a fault: reports are made to be handed on
    import shutil

    shutil.rmtree(tmp_path / "r")
    moved = rpa("verify", "--case", case)
    assert moved.exit_code == 0 and f"not on disk: {tmp_path / 'r'}" in moved.stdout
