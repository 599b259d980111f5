"""Query parameters bound as SQL literals, and the case connection that binds them.

DuckDB's Python client imports pandas (and with it numpy and pyarrow) the first time
a statement is given parameters: a quarter of a second added to every rpa command,
most of which need no pandas at all (measured: `import pandas` 0.26 s; a whole
`rpa status` 0.2 s without it). `CaseConnection.execute` therefore writes each value
into the statement as a typed literal before DuckDB sees it. Values are escaped, never
pasted: text goes in single quotes with quotes doubled, which is all DuckDB's standard
strings know (a backslash is an ordinary character).

Placeholders are DuckDB's: `?` (positional) and `$name` (named). Text inside string
literals, quoted identifiers and comments is left alone, so a `?` in a regular
expression or a `$` in a JSON path is not a placeholder.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Self

import duckdb


class ParameterError(ValueError):
    """A statement's placeholders and the values given do not fit together."""


def literal(value: Any) -> str:
    """A DuckDB SQL literal of the same type DuckDB's own binding would give `value`."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if -(2**63) <= value < 2**63 else f"CAST('{value}' AS HUGEINT)"
    if isinstance(value, float):
        if math.isnan(value):
            return "CAST('NaN' AS DOUBLE)"
        if math.isinf(value):
            return f"CAST('{'-' if value < 0 else ''}Infinity' AS DOUBLE)"
        return f"CAST({value!r} AS DOUBLE)"
    if isinstance(value, Decimal) and getattr(value, "sql_type", None):
        # a decimal of a declared type (rules.Exact): the same SQL type whatever its digits
        return f"CAST('{value:f}' AS {value.sql_type})"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ParameterError(f"a decimal parameter must be finite, not {value}")
        _, digits, exponent = value.as_tuple()
        scale = max(0, -int(exponent))
        precision = max(len(digits) + max(0, int(exponent)), scale, 1)
        if precision > 38:
            return f"CAST('{value}' AS DOUBLE)"
        return f"CAST('{value:f}' AS DECIMAL({precision}, {scale}))"
    if isinstance(value, str):
        if "\x00" in value:
            raise ParameterError("a text parameter may not contain a NUL character")
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            return f"CAST('{value.isoformat(sep=' ')}' AS TIMESTAMPTZ)"
        return f"CAST('{value.isoformat(sep=' ')}' AS TIMESTAMP)"
    if isinstance(value, dt.date):
        return f"CAST('{value.isoformat()}' AS DATE)"
    if isinstance(value, dt.time):
        return f"CAST('{value.isoformat()}' AS TIME)"
    if isinstance(value, dt.timedelta):
        return f"to_microseconds({(value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds})"
    if isinstance(value, bytes | bytearray | memoryview):
        return f"from_hex('{bytes(value).hex()}')"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    raise ParameterError(f"cannot bind a parameter of type {type(value).__name__}")


def identifier(name: str) -> str:
    """A DuckDB quoted identifier (a column named by a file or a rule)."""
    return '"' + name.replace('"', '""') + '"'


def bind(sql: str, params: Sequence[Any] | Mapping[str, Any]) -> str:
    """`sql` with each placeholder replaced by the literal of its value.

    Positional `?` take `params` (a list or tuple) in order; `$name` take `params[name]`
    (a mapping). Every value must be used and every placeholder given."""
    named = isinstance(params, Mapping)
    out: list[str] = []
    used: set[str] = set()
    position = 0
    i, n = 0, len(sql)
    start = 0
    while i < n:
        c = sql[i]
        if c == "'" or c == '"':
            i = _skip_quoted(sql, i, c)
            continue
        if c == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        if c == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        if c == "?" and not named:
            out.append(sql[start:i])
            if position >= len(params):
                raise ParameterError(f"the statement has more than {len(params)} placeholders")
            out.append(literal(params[position]))
            position += 1
            i += 1
            start = i
            continue
        if c == "$" and named and i + 1 < n and (sql[i + 1].isalpha() or sql[i + 1] == "_") and not _word_char(sql, i - 1):
            end = i + 1
            while end < n and (sql[end].isalnum() or sql[end] == "_"):
                end += 1
            name = sql[i + 1 : end]
            if name not in params:
                raise ParameterError(f"no value given for ${name}")
            out.append(sql[start:i])
            out.append(literal(params[name]))
            used.add(name)
            i = start = end
            continue
        i += 1
    out.append(sql[start:])
    if not named and position != len(params):
        raise ParameterError(f"{len(params)} values for {position} placeholders")
    if named and set(params) - used:
        raise ParameterError(f"values given for no placeholder: {', '.join(sorted(set(params) - used))}")
    return "".join(out)


def _skip_quoted(sql: str, i: int, quote: str) -> int:
    """Index just past the quoted text that starts at `i` (a doubled quote is part of it)."""
    j = i + 1
    while True:
        j = sql.find(quote, j)
        if j < 0:
            return len(sql)
        if j + 1 < len(sql) and sql[j + 1] == quote:
            j += 2
            continue
        return j + 1


def _word_char(sql: str, i: int) -> bool:
    return i >= 0 and (sql[i].isalnum() or sql[i] == "_")


# A list parameter longer than this goes to DuckDB's own binding (see execute).
LONG_LIST = 10_000


def _values(parameters: Sequence[Any] | Mapping[str, Any]) -> Iterable[Any]:
    return parameters.values() if isinstance(parameters, Mapping) else parameters


# INSERT INTO table VALUES (?, ?, ...): one row of placeholders, batched by executemany.
_VALUES = re.compile(r"(INSERT\s+INTO\s+[\w.]+(?:\s*\([\w\s,]+\))?\s+)(VALUES\s*)(\((?:\s*\?\s*,)*\s*\?\s*\))", re.IGNORECASE)

# From this many rows on, executemany's INSERT hands DuckDB the rows as an Arrow table:
# literal VALUES cost Python and DuckDB's parser about 30 µs a row (a 10M case's
# roster, 267,240 aliases: 9 s), an Arrow table about 1 µs. Below it pyarrow's import
# (0.15 s) is not worth it.
ARROW_ROWS = 5_000


class CaseConnection:
    """A DuckDB connection whose `execute` and `executemany` bind parameters as
    literals (see the module docstring). Everything else is the connection's own."""

    def __init__(self, con: duckdb.DuckDBPyConnection, opener: Callable[[], duckdb.DuckDBPyConnection] | None = None):
        self._con = con
        self._opener = opener

    def reopen(self) -> None:
        """Close DuckDB and open the same database again (as it was first opened):
        memory DuckDB kept from the statements before (its allocator's, its caches)
        goes back to the system. Temporary tables and settings made since are gone."""
        if self._opener is None:
            raise RuntimeError("this connection cannot be reopened")
        self._con.close()
        self._con = self._opener()

    def execute(self, sql: str, parameters: Sequence[Any] | Mapping[str, Any] | None = None) -> CaseConnection:
        """Run one or more statements; like DuckDBPyConnection.execute, returns the
        connection, from which the result of the last statement is fetched."""
        if not parameters:
            self._con.execute(sql)
        elif any(isinstance(v, list | tuple) and len(v) > LONG_LIST for v in _values(parameters)):
            # DuckDB parses a list literal of a million values ten times slower than it
            # binds the list (20 s against 1.9 s); a statement that big can afford the
            # pandas import.
            self._con.execute(sql, parameters)
        else:
            self._con.execute(bind(sql, parameters))
        return self

    def executemany(self, sql: str, rows: Sequence[Sequence[Any] | Mapping[str, Any]]) -> CaseConnection:
        """Run a statement once per row of parameters. `INSERT INTO t VALUES (?, ...)`
        runs as one multi-row INSERT per thousand rows instead."""
        rows = list(rows)
        values = _VALUES.fullmatch(sql.strip())
        if values and rows and all(isinstance(r, Sequence) and not isinstance(r, str) for r in rows):
            if len(rows) >= ARROW_ROWS and self._insert_arrow(values.group(1), values.group(3).count("?"), rows):
                return self
            for at in range(0, len(rows), 1000):
                self._con.execute(
                    values.group(1) + values.group(2) + ", ".join(bind(values.group(3), row) for row in rows[at : at + 1000])
                )
            return self
        for row in rows:
            self._con.execute(bind(sql, row) if row else sql)
        return self

    def _insert_arrow(self, insert: str, width: int, rows: list[Sequence[Any]]) -> bool:
        """`insert` (INSERT INTO t [(cols)]) SELECT the rows as an Arrow table, columns
        typed by pyarrow and cast by DuckDB as a literal would be. False (nothing done)
        when a column mixes types pyarrow cannot put in one array."""
        import pyarrow as pa

        if any(len(r) != width for r in rows):
            return False
        try:
            table = pa.table({f"c{i}": pa.array([r[i] for r in rows]) for i in range(width)})
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            return False
        self._con.register("rpa_executemany_rows", table)
        try:
            self._con.execute(f"{insert}SELECT * FROM rpa_executemany_rows")
        finally:
            self._con.unregister("rpa_executemany_rows")
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._con.close()
