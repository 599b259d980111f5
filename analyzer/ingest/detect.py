"""Detect: which export layout a file is, from its first bytes."""

from __future__ import annotations

import os
from importlib import import_module
from pathlib import Path
from types import ModuleType

from analyzer.errors import ParserBug, RpaError
from analyzer.formats.base import display_path

# Layouts tried in this order when sniffing; the first that recognises a file wins.
# Names are what `--format` accepts. Every module follows the protocol of
# analyzer.formats.base (sniff, stage, drop_staged).
FORMAT_MODULES = {
    "canonical": "analyzer.formats.canonical",  # first: its sniff is strict and it needs no pandas
    "tenpay": "analyzer.formats.tenpay",
    "wechat": "analyzer.formats.wechat",
    "alipay": "analyzer.formats.alipay",
}
LAYOUTS_TRIED = "WeChat Pay bill (CSV/XLSX), Alipay bill (3 CSV layouts), Tenpay TenpayTrades.txt, rpa canonical CSV/Parquet"
HEAD_BYTES = 64 * 1024


def format_module(name: str) -> ModuleType:
    """The parser module for a `--format` name."""
    if name not in FORMAT_MODULES:
        raise RpaError(f"unknown format {name!r}: choose one of {', '.join(FORMAT_MODULES)}")
    return import_module(FORMAT_MODULES[name])


def read_head(path: Path) -> bytes:
    """The first HEAD_BYTES of a file (raises OSError)."""
    with open(path, "rb") as f:
        return f.read(HEAD_BYTES)


def detect(path: Path, head: bytes) -> str | None:
    """The name of the first layout whose sniff recognises the file, else None.

    A sniff answers for its layout only by True or False: one that crashes is a bug in
    rpa, raised as ParserBug (naming the layout and the file), never taken for "not this
    layout"."""
    for name in FORMAT_MODULES:
        try:
            if format_module(name).sniff(path, head):
                return name
        except Exception as exc:
            raise ParserBug(name, "sniff", display_path(path), exc) from exc
    return None


def small_tenpay(path: Path, format: str | None) -> bool:
    """A Tenpay trades file small enough to be staged with others (a production is
    thousands of them, one per account)."""
    name = path.name.casefold()  # tenpay.is_trades_file, without importing numpy and pyarrow for other files
    if not (name.startswith("tenpaytrades") and name.endswith(".txt")):
        return False
    from analyzer.formats import tenpay

    try:
        if os.stat(path).st_size > tenpay.SMALL_FILE_BYTES:
            return False
        head = read_head(path)
    except OSError:
        return False
    if format == "tenpay":
        return True
    try:
        return detect(path, head) == "tenpay"
    except ParserBug:
        return False  # loaded alone, where the crash is reported
