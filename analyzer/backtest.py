"""`rpa backtest`: how well the rules find known cases.

Labels are known cases: from a labels CSV (what `rpa synth` writes beside a world with
planted cases), or from the investigators' own triage (confirmed = a true case,
dismissed = a false alarm). A finding matches a case when it has the case's rule and
shares most of the case's movements (more than `min_share` of them). Per rule and
overall: cases found and missed, findings that match no case (false alarms),
precision, recall and F1, and every miss and false alarm with its reason.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, field
from pathlib import Path

from analyzer.errors import RpaError
from analyzer.formats.base import decode_bytes


@dataclass(frozen=True)
class Case:
    """A known case: its rule, subject and the movements (ids as in the exports)."""

    case_id: str
    rule: str
    subject: str
    txn_ids: frozenset[str]
    label: bool = True  # False: a known false alarm (a dismissed finding)


@dataclass
class RuleScore:
    rule: str
    cases: int = 0
    found: int = 0
    missed: int = 0
    findings: int = 0
    true_findings: int = 0
    false_alarms: int = 0

    @property
    def precision(self) -> float | None:
        return self.true_findings / self.findings if self.findings else None

    @property
    def recall(self) -> float | None:
        return self.found / self.cases if self.cases else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None or p + r == 0:
            return None if p is None or r is None else 0.0
        return 2 * p * r / (p + r)

    def as_dict(self) -> dict:
        return {**asdict(self), "precision": _round(self.precision), "recall": _round(self.recall), "f1": _round(self.f1)}


@dataclass
class BacktestReport:
    rules: list[RuleScore]
    overall: RuleScore
    misses: list[dict] = field(default_factory=list)
    false_alarms: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "rules": [r.as_dict() for r in self.rules],
            "overall": self.overall.as_dict(),
            "misses": self.misses,
            "false_alarms": self.false_alarms,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def load_labels(path: Path) -> list[Case]:
    """Read a labels CSV: case_id, rule (or rule_id), subject, txn_ids (separated by ';').
    UTF-8 or GBK. A bad file is one error line naming the file and line."""
    try:
        text, _ = decode_bytes(path.read_bytes())
    except OSError as exc:
        raise RpaError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise RpaError(f"{path}: not UTF-8 or GBK text") from None
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip() for f in reader.fieldnames or []]
    reader.fieldnames = fields
    rule_col = "rule" if "rule" in fields else "rule_id"
    missing = [c for c in ("case_id", rule_col, "subject", "txn_ids") if c not in fields]
    if missing:
        raise RpaError(f"{path}: labels need the columns case_id, rule, subject, txn_ids (missing {', '.join(missing)})")
    cases, seen = [], set()
    for row in reader:
        line = reader.line_num
        case_id = (row.get("case_id") or "").strip()
        ids = frozenset(t.strip() for t in (row.get("txn_ids") or "").split(";") if t.strip())
        if not case_id or not (row.get(rule_col) or "").strip() or not ids:
            raise RpaError(f"{path}:{line}: a case needs a case_id, a rule and at least one txn id")
        if case_id in seen:
            raise RpaError(f"{path}:{line}: case_id {case_id} appears twice")
        seen.add(case_id)
        cases.append(Case(case_id, row[rule_col].strip(), (row.get("subject") or "").strip(), ids))
    return cases


def triage_cases(labels: list[dict]) -> list[Case]:
    """Cases from triage (analyzer.triage.triage_labels): confirmed findings are true
    cases, dismissed ones known false alarms."""
    return [
        Case(l["finding_id"], l["rule"], l["subject"], frozenset(l["txn_ids"]), bool(l["label"]))
        for l in labels
    ]


def _share(finding_ids: frozenset[str], case: Case) -> float:
    return len(finding_ids & case.txn_ids) / len(case.txn_ids)


def backtest(findings: list[dict], cases: list[Case], *, min_share: float = 0.5, only_overlapping: bool = False) -> BacktestReport:
    """Score findings (dicts as from analyzer.findings.list_findings) against cases.

    `only_overlapping`: judge only findings that share a movement with some labelled case
    of their rule (for triage labels, where most findings were never judged)."""
    by_rule: dict[str, list[Case]] = {}
    for c in cases:
        by_rule.setdefault(c.rule, []).append(c)
    scores: dict[str, RuleScore] = {}
    misses, false_alarms = [], []
    matched_cases: set[str] = set()

    for f in findings:
        fids = frozenset(f["txn_ids"])
        rule_cases = by_rule.get(f["rule"], [])
        if only_overlapping and not any(fids & c.txn_ids for c in rule_cases):
            continue
        score = scores.setdefault(f["rule"], RuleScore(f["rule"]))
        score.findings += 1
        hits = [c for c in rule_cases if _share(fids, c) > min_share]
        true_hits = [c for c in hits if c.label]
        if true_hits:
            score.true_findings += 1
            matched_cases.update(c.case_id for c in true_hits)
            continue
        score.false_alarms += 1
        if hits:
            reason = f"matches known false alarm {hits[0].case_id}"
        elif not rule_cases:
            reason = f"no labelled case of rule {f['rule']}"
        else:
            best = max(rule_cases, key=lambda c: _share(fids, c))
            shared = len(fids & best.txn_ids)
            reason = (
                f"closest case {best.case_id} shares {shared} of its {len(best.txn_ids)} movements "
                f"({shared / len(best.txn_ids):.0%}; more than {min_share:.0%} needed)"
                if shared else "shares no movement with any labelled case of its rule"
            )
        false_alarms.append({"finding": f["id"], "rule": f["rule"], "subject": f["subject"], "reason": reason})

    finding_rules = {}
    for f in findings:
        finding_rules.setdefault(f["rule"], []).append(f)
    for c in (c for c in cases if c.label):
        score = scores.setdefault(c.rule, RuleScore(c.rule))
        score.cases += 1
        if c.case_id in matched_cases:
            score.found += 1
            continue
        score.missed += 1
        candidates = finding_rules.get(c.rule, [])
        if not candidates:
            reason = f"rule {c.rule} gave no finding"
        else:
            best = max(candidates, key=lambda f: _share(frozenset(f["txn_ids"]), c))
            shared = len(frozenset(best["txn_ids"]) & c.txn_ids)
            reason = (
                f"best finding {best['id']} shares {shared} of {len(c.txn_ids)} movements "
                f"({shared / len(c.txn_ids):.0%}; more than {min_share:.0%} needed)"
                if shared else f"no finding of rule {c.rule} shares any of its movements"
            )
        misses.append({"case": c.case_id, "rule": c.rule, "subject": c.subject, "reason": reason})

    rules = sorted(scores.values(), key=lambda s: s.rule)
    overall = RuleScore("overall")
    for s in rules:
        for key in ("cases", "found", "missed", "findings", "true_findings", "false_alarms"):
            setattr(overall, key, getattr(overall, key) + getattr(s, key))
    return BacktestReport(rules, overall, misses, false_alarms)
