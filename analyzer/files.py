"""Files as evidence: their SHA-256, read in chunks. Used by ingest (a file already
ingested adds nothing), roster (the roster files' digests) and verify (a source file
still as it was ingested)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_digest(path: Path) -> tuple[str, int]:
    """SHA-256 hex digest and size of a file, read in chunks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size
