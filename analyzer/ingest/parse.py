"""Parse: a file's rows handed over by its layout's module, the same way for every
layout (analyzer.formats.base): `stage` puts them into temporary DuckDB relations of
the case's connection (the rows as text in MOVEMENT_COLUMNS, the lines it rejected)
before the file's transaction begins, and `drop_staged` removes them."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import ModuleType

import duckdb

from analyzer.errors import FormatError, ParserBug
from analyzer.files import file_digest
from analyzer.formats.base import Parsed

# A file whose parser module sets CAP_MEMORY (Tenpay) streams through DuckDB: its
# temporary tables fill whatever memory DuckDB may use before they spill, and the load
# gains nothing from more than this (measured: 2M rows as fast at 400 MB as at 768 MB).
# Capped while such a file loads, so that the process stays under 1 GB whatever the
# file's size.
STAGED_MEMORY_LIMIT = 400 * 2**20


def stage_file(con: duckdb.DuckDBPyConnection, module: ModuleType, path: Path, name: str, fmt: str, owner: str | None) -> Parsed:
    """The file's rows staged by its layout's module. Raises FormatError, one line
    naming the file, when the file cannot be read as that layout.
    A parser refuses a file by FormatError only, from its own checks; anything else it
    raises is a crash (a bug in rpa), raised as ParserBug, never passed off as a refusal."""
    try:
        return module.stage(con, path, owner=owner)
    except FormatError:
        module.drop_staged(con)
        raise
    except OSError as exc:
        module.drop_staged(con)
        raise FormatError(f"{name}: cannot read ({exc.strerror or exc})") from None
    except duckdb.OutOfMemoryException:
        # not a crash of the parser: the file needs more memory than DuckDB may use
        module.drop_staged(con)
        raise
    except Exception as exc:
        try:
            module.drop_staged(con)
        except Exception:  # noqa: BLE001 (the crash is the error to report)
            pass
        raise ParserBug(fmt, "parser", name, exc) from exc


class Digest:
    """The SHA-256 of a file, computed on a thread (hashlib releases the GIL) while the
    file is parsed and loaded."""

    def __init__(self, path: Path):
        self._result: tuple[str, int] | BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(path,), name="rpa-sha256", daemon=True)
        self._thread.start()

    def _run(self, path: Path) -> None:
        try:
            self._result = file_digest(path)
        except BaseException as exc:  # noqa: BLE001 (handed over by result())
            self._result = exc

    def result(self) -> tuple[str, int]:
        """(sha256 hex, size); raises what the hashing raised (OSError)."""
        self._thread.join()
        if isinstance(self._result, BaseException):
            raise self._result
        return self._result  # type: ignore[return-value]


def cap_memory(con) -> str | None:
    """Lower DuckDB's memory limit to STAGED_MEMORY_LIMIT if it is higher; returns the
    setting to restore (None when left as it was): the case's configured limit, exactly
    as db.connect set it (DuckDB shows it rounded)."""
    from analyzer.db import DEFAULT_MEMORY_LIMIT

    size = setting_bytes(con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])
    if size is None or size <= STAGED_MEMORY_LIMIT:
        return None
    configured = os.environ.get("RPA_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT
    con.execute(f"SET memory_limit = '{STAGED_MEMORY_LIMIT // 2**20}MB'")
    return configured.replace("'", "")


def restore_memory(con, setting: str | None) -> None:
    """Undo cap_memory."""
    if setting is not None:
        con.execute(f"SET memory_limit = '{setting}'")


def setting_bytes(setting: str) -> int | None:
    """'732.4 MiB' → bytes (DuckDB's way of showing a size); None if not such a text."""
    units = {"bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
    number, _, unit = setting.strip().partition(" ")
    try:
        return int(float(number) * units[unit])
    except (ValueError, KeyError):
        return None
