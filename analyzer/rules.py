"""The SQL rule library: one file per rule, a TOML header in leading `--` comments.

    -- title = "..."                    English title
    -- title_zh = "..."                 Chinese title
    -- severity = "high"                high | medium | low (a rule may raise it per finding)
    -- regulation = "..."               the rule(s) it serves
    -- rationale = "..."                why this pattern matters
    -- false_positives = ["...", ...]   what else can look like it
    -- reason_zh = "... {placeholder} ..."   the finding's reason; placeholders are the
    -- reason_en = "... {placeholder} ..."   rule's output columns and its parameters
    --
    -- internal = ["excess_zh", ...]      helper columns (reason fragments, ids) never shown
    --                                  on a page
    -- [params.min_recipients]
    -- default = 5
    -- description = "..."
    -- [labels.n_recipients]            one table per figure column: its label on a page
    -- zh = "收款人数"
    -- en = "Recipients"
    -- [labels.nights.rounds]           a column of rows (a list of structs) labels each key
    -- zh = "轮数"                        under its own table
    -- en = "Rounds"

Every output column other than the standard ones (OUTPUT_COLUMNS, severity) is a figure
of the finding: it needs a label in zh and en, or a place in `internal`. The scan refuses
a rule that returns a figure without either (check_labels).

After the header comes exactly one SELECT that reads only the scan tables (see
scan.py) and takes values only as `$name` parameters, each declared under [params].
The file stem is the rule id. The loader checks every file with DuckDB's own parser.
"""

from __future__ import annotations

import hashlib
import re
import string
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import duckdb

from analyzer.errors import RpaError
from analyzer.paths import queries_dir

RULE_ID = re.compile(r"^[a-z][a-z0-9_]*$")
SEVERITIES = ("high", "medium", "low")
REQUIRED_KEYS = ("title", "title_zh", "severity", "regulation", "rationale", "false_positives", "reason_zh", "reason_en")
# Every rule returns these columns; any others become the finding's metrics.
OUTPUT_COLUMNS = (
    "subject", "counterparties", "window_name", "start_ts", "end_ts", "total_amount", "txn_count", "evidence", "score",
)


class RuleError(RpaError):
    """A rule file that cannot be used."""


@dataclass(frozen=True)
class Param:
    """A rule parameter: its default and what it means."""

    name: str
    default: object
    description: str


@dataclass(frozen=True)
class Rule:
    """One rule: header fields, parameters and its SQL."""

    id: str
    path: Path
    title: str
    title_zh: str
    severity: str
    regulation: str
    rationale: str
    false_positives: tuple[str, ...]
    reason_zh: str
    reason_en: str
    params: tuple[Param, ...]
    sql: str
    labels: dict = field(compare=False, repr=False)  # column -> {"zh", "en", key -> {"zh", "en"}}
    internal: tuple[str, ...] = field(compare=False, repr=False)
    sha256: str
    header: dict = field(compare=False, repr=False)

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params}


def split_header(text: str) -> tuple[str, str]:
    """The leading `--` comment block (without the prefix) and the SQL after it."""
    header, lines = [], text.splitlines()
    body_start = len(lines)
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("--"):
            header.append(stripped[2:][1:] if stripped[2:3] == " " else stripped[2:])
        elif stripped or header:
            body_start = i
            break
    return "\n".join(header), "\n".join(lines[body_start:]).strip()


def placeholders(template: str) -> set[str]:
    """Names used as {name} in a reason template."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def parse_rule(path: Path, con: duckdb.DuckDBPyConnection | None = None) -> Rule:
    """Read and check one rule file. Raises RuleError naming the file and the reason."""
    rule_id = path.stem
    where = f"rule {path}"
    if not RULE_ID.match(rule_id):
        raise RuleError(f"{where}: the file name must be a rule id of lower-case letters, digits and _")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(f"{where}: cannot read ({exc})") from None
    head, sql = split_header(text)
    try:
        header = tomllib.loads(head)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{where}: the header is not TOML ({exc})") from None
    missing = [k for k in REQUIRED_KEYS if k not in header]
    if missing:
        raise RuleError(f"{where}: the header lacks {', '.join(missing)}")
    if header["severity"] not in SEVERITIES:
        raise RuleError(f"{where}: severity must be one of {', '.join(SEVERITIES)}")
    params = []
    for name, spec in header.get("params", {}).items():
        if not isinstance(spec, dict) or "default" not in spec or "description" not in spec:
            raise RuleError(f"{where}: [params.{name}] needs a default and a description")
        default = _exact_default(spec["default"])  # money and ratios: exact decimals, never float
        params.append(Param(name, default, spec["description"]))
    labels = _labels(header, where)
    internal = header.get("internal", [])
    if not isinstance(internal, list) or not all(isinstance(c, str) for c in internal):
        raise RuleError(f'{where}: internal must be a list of column names, e.g. internal = ["excess_zh"]')
    if not sql:
        raise RuleError(f"{where}: no SQL after the header")
    con = con or duckdb.connect()
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise RuleError(f"{where}: DuckDB cannot parse the SQL: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise RuleError(f"{where}: must hold exactly one statement, found {len(statements)}")
    if statements[0].type != duckdb.StatementType.SELECT:
        raise RuleError(f"{where}: must be a SELECT (found {statements[0].type.name})")
    used, declared = set(statements[0].named_parameters), {p.name for p in params}
    if used - declared:
        raise RuleError(f"{where}: uses undeclared parameter(s) {', '.join(sorted(used - declared))}")
    if declared - used:
        raise RuleError(f"{where}: declares unused parameter(s) {', '.join(sorted(declared - used))}")
    return Rule(
        id=rule_id,
        path=path,
        title=header["title"],
        title_zh=header["title_zh"],
        severity=header["severity"],
        regulation=header["regulation"],
        rationale=header["rationale"],
        false_positives=tuple(header["false_positives"]),
        reason_zh=header["reason_zh"],
        reason_en=header["reason_en"],
        params=tuple(params),
        sql=sql,
        labels=labels,
        internal=tuple(internal),
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        header=header,
    )


def _labels(header: dict, where: str) -> dict:
    """[labels.<column>] tables: each with zh and en text; a table inside one labels a
    key of the column's rows."""
    labels = header.get("labels", {})
    if not isinstance(labels, dict):
        raise RuleError(f"{where}: labels must be tables, e.g. [labels.n_rounds] with zh and en")

    def check(name: str, spec) -> None:
        if not isinstance(spec, dict) or not all(isinstance(spec.get(k), str) and spec.get(k).strip() for k in ("zh", "en")):
            raise RuleError(f"{where}: [labels.{name}] needs zh and en text")
        for key, sub in spec.items():
            if key not in ("zh", "en"):
                check(f"{name}.{key}", sub)

    for name, spec in labels.items():
        check(name, spec)
    return labels


def _struct_fields(type_: str) -> list[str] | None:
    """The field names of a STRUCT(...)[] column type as DuckDB describes it, else None."""
    t = type_.strip()
    if not (t.upper().startswith("STRUCT(") and t.endswith(")[]")):
        return None
    inner, fields, depth, current = t[len("STRUCT("):-3], [], 0, ""
    for ch in inner + ",":
        if ch == "," and depth == 0:
            fields.append(current.strip().split(" ")[0].strip('"'))
            current = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        current += ch
    return fields


def check_labels(rule: Rule, types: dict[str, str]) -> None:
    """Refuse a rule whose figure columns (types: its output columns) lack a label:
    every column but the standard ones needs [labels.<column>] or a place in internal,
    and every key of a column of rows its own [labels.<column>.<key>]."""
    missing = []
    for col, type_ in types.items():
        if col in OUTPUT_COLUMNS or col == "severity" or col in rule.internal:
            continue
        if col not in rule.labels:
            missing.append(col)
            continue
        missing += [f"{col}.{key}" for key in (_struct_fields(type_) or []) if key not in rule.labels[col]]
    if missing:
        raise RuleError(
            f"rule {rule.id}: output column(s) {', '.join(missing)} have no label: add [labels.<column>] with zh and en "
            "to the header, or name helper columns in internal = [...]"
        )


def figure_rows(rule: Rule, metrics: dict, lang: str) -> list[tuple[str, object]]:
    """A finding's figures as the investigator reads them: (label, value) in the order of
    the rule's [labels.*] tables, in `lang` (zh or en); internal and unlabelled keys are
    left out. A value that is a list of rows (dicts) comes back as rows whose keys are
    labels too, in the order of the column's own label tables."""
    lang = "en" if lang == "en" else "zh"
    rows = []
    for col, spec in rule.labels.items():
        if col in rule.internal or col not in metrics:
            continue
        value = metrics[col]
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            keys = [k for k in spec if k not in ("zh", "en")]
            value = [{spec[k][lang]: row.get(k) for k in keys if k in row} for row in value]
        rows.append((spec[lang], value))
    return rows


def figure_text(value: object) -> str:
    """A figure value as a page shows it: amounts and ratios (floats in the stored JSON)
    with thousands separators and two decimals, lists joined with 、, nothing for null."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, list):
        return "、".join(figure_text(v) for v in value)
    return str(value)


def load_rules(extra_dirs: list[Path] | None = None) -> dict[str, Rule]:
    """All rules: the shipped library, then each extra folder (--rules-dir). A rule id
    defined twice is an error: an investigator's rule must not silently replace one."""
    con = duckdb.connect()
    rules: dict[str, Rule] = {}
    folders = [queries_dir(), *(extra_dirs or [])]
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise RuleError(f"rules folder {folder} does not exist")
        for path in sorted(folder.glob("*.sql")):
            rule = parse_rule(path, con)
            if rule.id in rules:
                raise RuleError(f"rule {path}: the id {rule.id} is already defined by {rules[rule.id].path}")
            rules[rule.id] = rule
    con.close()
    return rules


# Money and ratio parameters are one exact type whatever they come from (the rule's
# default, rpa.toml, --param): a Decimal bound as EXACT_TYPE, never a DOUBLE, and never a
# DECIMAL whose scale depends on how the value was written (1000 vs 1000.0).
EXACT_TYPE = "DECIMAL(18,6)"
EXACT_PLACES = 6
EXACT_LIMIT = Decimal(10) ** (18 - EXACT_PLACES)


class Exact(Decimal):
    """A money or ratio parameter: an exact decimal that binds as EXACT_TYPE."""

    sql_type = EXACT_TYPE


def exact(value: object, where: str) -> Exact:
    """`value` (a number or its text) as an Exact, refused when it is not a finite
    number with at most EXACT_PLACES decimals below EXACT_LIMIT."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        raise RuleError(f"{where}: {value!r} is not a number")
    try:
        d = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise RuleError(f"{where}: {value!r} is not a number") from None
    if not d.is_finite() or abs(d) >= EXACT_LIMIT:
        raise RuleError(f"{where}: {value!r} is out of range")
    if d != d.quantize(Decimal(1).scaleb(-EXACT_PLACES), rounding="ROUND_DOWN"):
        raise RuleError(f"{where}: {value!r} has more than {EXACT_PLACES} decimals")
    d = d.normalize()
    if d.as_tuple().exponent > 0:  # 1E+3 -> 1000
        d = d.quantize(Decimal(1))
    return Exact(d)


def _exact_default(value: object) -> object:
    """A header default as it runs: floats (TOML has no decimals) become Exact, in lists too."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, list):
        return [_exact_default(v) for v in value]
    return value


def typed(value: object, default: object, where: str) -> object:
    """A parameter value (from rpa.toml, or text from --param) in the one type of its
    default: bool, int, Exact (the default is a decimal), text, or a list of these."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.strip().lower() in ("true", "yes", "1")
        raise RuleError(f"{where}: {value!r} is not true or false")
    if isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise RuleError(f"{where}: {value!r} is not a whole number")
    if isinstance(default, (Decimal, float)):
        return exact(value, where)
    if isinstance(default, list):
        items = [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value
        if not isinstance(items, list):
            raise RuleError(f"{where}: {value!r} is not a list")
        if not default:
            return list(items)
        return [typed(v, default[0], where) for v in items]
    if isinstance(default, str):
        if not isinstance(value, str):
            raise RuleError(f"{where}: {value!r} is not text")
        return value
    return value


def coerce(value: str, default: object, where: str) -> object:
    """A parameter value given as text (--param) in the type of its default."""
    return typed(value, default, where)


def resolve_params(rules: dict[str, Rule], case_values: dict[str, dict], cli_values: list[str]) -> dict[str, dict]:
    """Parameter values per rule: defaults, then rpa.toml [rules.<id>], then --param
    ID.KEY=VALUE; every value in the type of its default (money and ratios: Exact)."""
    out = {rid: {k: typed(v, v, f"rule {rid}: {k}") for k, v in r.defaults().items()} for rid, r in rules.items()}
    for rid, values in case_values.items():
        if rid not in rules:
            raise RuleError(f"rpa.toml: [rules.{rid}] names no known rule")
        for key, value in values.items():
            if key not in out[rid]:
                raise RuleError(f"rpa.toml: [rules.{rid}] {key} is not a parameter of {rid} ({', '.join(out[rid]) or 'none'})")
            default = rules[rid].defaults()[key]
            if isinstance(default, (int, Decimal)) and not isinstance(default, bool) and (
                    isinstance(value, bool) or not isinstance(value, (int, float, Decimal))):
                raise RuleError(f"rpa.toml: [rules.{rid}] {key} must be a number")
            out[rid][key] = typed(value, default, f"rpa.toml: [rules.{rid}] {key}")
    for item in cli_values:
        target, sep, value = item.partition("=")
        rid, dot, key = target.partition(".")
        if not sep or not dot:
            raise RuleError(f"--param {item!r}: write it as RULE.KEY=VALUE, e.g. split_packets.min_packets=4")
        if rid not in rules:
            raise RuleError(f"--param {item!r}: no rule {rid!r}")
        if key not in out[rid]:
            raise RuleError(f"--param {item!r}: {rid} has no parameter {key!r} ({', '.join(out[rid]) or 'none'})")
        out[rid][key] = coerce(value, rules[rid].defaults()[key], f"--param {item!r}")
    return out


def _shown(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(str(v) if isinstance(v, Decimal) else repr(v) for v in value) + "]"
    return str(value)


def rules_markdown(rules: dict[str, Rule]) -> str:
    """The README's table of rules, generated from the headers (tests keep README in step)."""
    lines = ["| id | rule | severity | parameters (defaults) |", "|---|---|---|---|"]
    for r in sorted(rules.values(), key=lambda r: r.id):
        params = ", ".join(f"`{p.name}`={_shown(p.default)}" for p in r.params).replace("|", "\\|")
        lines.append(f"| `{r.id}` | {r.title_zh} — {r.title} | {r.severity} | {params} |")
    return "\n".join(lines)
