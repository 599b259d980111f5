"""Where rpa's shipped files are, installed or in a checkout."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def queries_dir() -> Path:
    """The folder of the shipped SQL rules.

    An installed wheel carries them as analyzer/queries (hatch force-include); a
    checkout or an editable install has them at the top level, beside analyzer/.
    """
    packaged = Path(str(resources.files("analyzer"))) / "queries"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "queries"
