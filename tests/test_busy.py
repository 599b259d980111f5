"""One case, two processes: a second rpa waits briefly for the case, then says it is busy."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tests.helpers import rpa

HOLD = """
import duckdb, sys, time
con = duckdb.connect(sys.argv[1])
con.execute("BEGIN; CREATE TABLE holding (x INTEGER)")
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def hold(case, seconds: float) -> subprocess.Popen:
    """Another process that keeps the case open for writing for `seconds`."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(case / "rpa.duckdb"), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "holding"
    return proc


def run(case, *args, wait: str):
    env = {**os.environ, "RPA_BUSY_WAIT": wait}
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "analyzer", *args, "--case", str(case)], env=env, capture_output=True, text=True)
    return done, time.monotonic() - start


def test_busy_case_is_one_clear_line_after_a_short_wait(tmp_path):
    rpa("init", tmp_path)
    proc = hold(tmp_path, 20)
    try:
        done, took = run(tmp_path, "status", wait="1")
    finally:
        proc.kill()
        proc.wait()
    assert done.returncode == 3
    assert "is busy" in done.stderr and "waited 1 s" in done.stderr and "Traceback" not in done.stderr
    assert took >= 1.0


def test_second_process_gets_the_case_when_the_first_lets_go(tmp_path):
    rpa("init", tmp_path)
    proc = hold(tmp_path, 1.5)
    done, took = run(tmp_path, "status", wait="20")
    proc.wait()
    assert done.returncode == 0, done.stderr
    assert "0 sources" in done.stdout
