"""`rpa report --mask` on rpa's own sample world: masking by construction.

Every identifying value the case holds — persons' names and ids, aliases, accounts and
nicknames, org units, window names, transaction ids, file names, the names beside
accounts in the exports, reviewers, notes — is looked for, whatever its length (霞, 龙
and 云 are names in the sample roster), in every file of a masked report (pages, their
embedded figure JSON, manifest.json), as UTF-8 text, JSON-escaped and HTML-escaped.

A one-character name can also be part of the report's own wording: 龙 is in 接龙 (a
rule's word for chain gambling). The report's fixed wording is every string literal of
the code that renders it (render.py, figures.py, mask.py, calendar.py) and of the rules
(their headers and SQL). A value that occurs inside such a literal is checked after
every occurrence of those literals is taken out of the page: what is left can only have
come from the data. A value that is in no literal is checked as it is.
"""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from pathlib import Path

import pytest

from analyzer.paths import queries_dir
from tests.conftest import ROOT
from tests.helpers import query, rpa

SAMPLE = ROOT / "sample_data"
NOTE = "云龙霞三人当面核实"
REVIEWER = "霞"


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("mask")
    case = base / "case"
    assert rpa("init", case).exit_code == 0
    shutil.copy(SAMPLE / "rpa.toml", case / "rpa.toml")
    assert rpa("roster", SAMPLE / "people.csv", "--relations", SAMPLE / "relations.csv", "--case", case).exit_code == 0
    assert rpa("ingest", SAMPLE, "--case", case).exit_code == 0
    assert rpa("scan", "--case", case).exit_code == 0
    fid = query(case, "SELECT id FROM findings ORDER BY score DESC, id LIMIT 1")[0][0]
    assert rpa("triage", fid, "--status", "confirmed", "--note", NOTE, "--by", REVIEWER, "--case", case).exit_code == 0
    out = {"case": case}
    for lang in ("zh", "en"):
        result = rpa("report", "--mask", "--lang", lang, "--out", base / f"masked-{lang}", "--case", case)
        assert result.exit_code == 0, result.output
        out[lang] = base / f"masked-{lang}"
    result = rpa("report", "--out", base / "plain", "--case", case)
    assert result.exit_code == 0, result.output
    out["plain"] = base / "plain"
    return out


def identifying_values(case: Path) -> set[str]:
    """Every identifying value of the case, of any length."""
    values: set[str] = set()
    for sql in ("SELECT name FROM persons", "SELECT person_id FROM persons", "SELECT org_unit FROM persons",
                "SELECT alias FROM person_accounts", "SELECT account FROM accounts", "SELECT txn_id FROM transactions",
                "SELECT payer_name FROM transactions", "SELECT payee_name FROM transactions", "SELECT name FROM sources",
                "SELECT path FROM sources", "SELECT owner FROM sources", "SELECT memo FROM transactions WHERE memo IS NOT NULL"):
        values |= {r[0] for r in query(case, sql) if r[0]}
    settings = tomllib.loads((case / "rpa.toml").read_text(encoding="utf-8"))
    for w in settings.get("windows", []):
        values |= {w["name"], w.get("org_unit") or ""}
    values |= {NOTE, REVIEWER, str(case)}
    return {v for v in values if v}


def fixed_wording() -> list[str]:
    """Every string literal of the code that words a report, longest first."""
    sources = [ROOT / "analyzer" / "report" / "render.py", ROOT / "analyzer" / "report" / "mask.py",
               ROOT / "analyzer" / "figures.py", ROOT / "analyzer" / "calendar.py", *sorted(queries_dir().glob("*.sql"))]
    literals: set[str] = set()
    for path in sources:
        text = path.read_text(encoding="utf-8")
        literals |= set(re.findall(r'"([^"\n]*)"', text)) | set(re.findall(r"'([^'\n]*)'", text))
    return sorted((s for s in literals if s), key=len, reverse=True)


def forms(value: str) -> set[str]:
    return {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1],
            value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")}


def leaks(report: Path, values: set[str], in_wording: dict[str, list[str]]) -> dict[str, str]:
    """value -> a file of the report where it occurs outside the report's fixed wording."""
    found: dict[str, str] = {}
    for path in sorted(report.rglob("*")):
        if not path.is_file() or path.name == "plotly.min.js":
            continue
        text = path.read_text(encoding="utf-8")
        for value in values - set(found):
            for form in forms(value):
                if form not in text:
                    continue
                stripped = text
                for w in in_wording[value]:
                    for wf in forms(w):
                        stripped = stripped.replace(wf, "")
                if form in stripped:
                    found[value] = path.relative_to(report).as_posix()
                    break
    return found


@pytest.fixture(scope="module")
def values(sample) -> tuple[set[str], dict[str, list[str]]]:
    values = identifying_values(sample["case"])
    wording = fixed_wording()
    return values, {v: [w for w in wording if v in w] for v in values}


def test_a_masked_report_holds_no_identifying_value_of_any_length(sample, values):
    values, in_wording = values
    assert {"霞", "龙", "云"} <= {v for v in values if len(v) == 1} and len(values) > 3000
    assert in_wording["龙"]  # 龙 is in the wording (接龙): checked with the wording taken out
    for lang in ("zh", "en"):
        report = sample[lang]
        assert len(list(report.rglob("*.html"))) > 40 and list((report / "persons").glob("*.html"))
        assert leaks(report, values, in_wording) == {}, lang


def test_the_same_check_finds_them_in_the_plain_report(sample, values):
    """The check is not vacuous: on the unmasked report it finds names, one-character
    nicknames among them, the reviewer and the note."""
    values, in_wording = values
    found = leaks(sample["plain"], values, in_wording)
    assert {"霞", NOTE} <= set(found) and len({v for v in found if len(v) == 1}) >= 3
    assert len(found) > 100


def test_masked_reasons_are_the_rules_reasons_with_pseudonyms(sample):
    """A masked finding's reason is its rule's template with masked values: the same
    text as the scan's reason once the pseudonyms are put back as labels."""
    from analyzer.config import load_settings
    from analyzer.db import connect
    from analyzer.report.collect import collect
    from analyzer.report.mask import Masker, reason

    class Plain(Masker):
        """Pseudonyms that are the values themselves, labels as the scan makes them."""

        def pseudonym(self, kind, value):
            return value

        def party(self, party):
            p = self.persons.get(party)
            return f"{p.name}（{party}）" if p is not None and p.name else party

        def value(self, value):
            return value

    case = sample["case"]
    from datetime import datetime

    with connect(case / "rpa.duckdb", read_only=True) as con:
        data = collect(con, load_settings(case), "zh", datetime.now(), None, None, 200)
    plain = Plain(b"k", "zh", data.persons, data.identities)
    assert len(data.shown) == query(case, "SELECT count(*) FROM findings")[0][0]
    for f in data.shown:
        rule = data.rules[f["rule"]]
        for lang in ("zh", "en"):
            rebuilt = reason(getattr(rule, f"reason_{lang}"), f, f, plain, lang)
            assert rebuilt == f[f"reason_{lang}"], (f["rule"], lang)


def test_masked_labels_are_pseudonyms_where_the_plain_report_has_names(sample):
    """Where a plain reason names a person by label, name（id）, the masked reason has
    that person's pseudonym: the parts of a label are values, replaced as values."""
    def reasons(report: Path) -> dict[str, str]:
        return {p.name: re.search(r'<p class="reason">(.*?)</p>', p.read_text(encoding="utf-8")).group(1)
                for p in (report / "findings").glob("*.html")}

    masked, plain = reasons(sample["zh"]), reasons(sample["plain"])
    assert set(masked) == set(plain)
    labels = {name: re.findall(r"（(P\d+)）", text) for name, text in plain.items()}
    assert sum(map(len, labels.values())) >= 10
    for name, ids in labels.items():
        assert len(re.findall(r"人员-[0-9a-f]{8}", masked[name])) >= len(ids), (plain[name], masked[name])


def test_values_are_replaced_whole_and_composed_text_with_a_name_is_withheld():
    from analyzer.report.collect import Person
    from analyzer.report.mask import HIDDEN, Hidden, Masker

    persons = {"P1": Person("云", True, False, "古云村党支部", "书记", 1)}
    identities = {"云": ("person", "P1"), "P1": ("person", "P1"), "wx_yun": ("account", "wx_yun"),
                  "古云村党支部": ("unit", "古云村党支部")}
    m = Masker(b"k" * 32, "zh", persons, identities, {"云", "P1", "wx_yun", "古云村党支部"})
    p1 = m.pseudonym("person", "P1")
    assert m.value("云") == p1 == m.value("P1") == m.party("P1")  # a one-character name, whole: the person
    assert m.value("云（P1）") == p1  # a label a rule finished itself: the id's pseudonym
    assert m.value(["云", "wx_yun"]) == [p1, m.pseudonym("account", "wx_yun")]
    assert m.value("古云村党支部") == m.pseudonym("unit", "古云村党支部")
    # text a rule composed with a name inside: withheld, whatever the name's length
    assert isinstance(m.value("家属云的"), Hidden) and m.value("家属云的") == HIDDEN
    assert isinstance(m.value("转给其家属wx_yun"), Hidden)
    assert m.value("下属") == "下属" and m.value(3) == 3  # wording and numbers stay
    assert p1.startswith("人员-") and "云" not in p1 and "P1" not in p1
