"""Named points where a test can stop rpa for a moment, to kill it at a known place."""

from __future__ import annotations

import os
import sys
import time


def pause_point(name: str) -> None:
    """Stop here for a moment when env RPA_PAUSE_AT names this point (`name:seconds`).

    Lets the crash tests kill a process at a known moment (inside a transaction, say);
    with the variable unset (always, outside tests) this does nothing.
    """
    spec = os.environ.get("RPA_PAUSE_AT", "")
    if spec.startswith(name + ":"):
        print(f"paused at {name}", file=sys.stderr, flush=True)
        time.sleep(float(spec.split(":", 1)[1]))
