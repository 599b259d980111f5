"""Kill `rpa ingest` of a many-file Tenpay production at random moments, again and again,
and check after each kill that the case opens and holds every file whole or not at all.

    python benchmarks/kill_ingest.py --kills 100 --movements 20000

It writes a production with `rpa synth --format tenpay` (one TenpayTrades.txt per
account), loads it once without a kill for reference (rows per file, by SHA-256), then
repeats: start `rpa ingest` on the production into a case, SIGKILL it after a random
delay, open the case (`rpa status` must exit 0) and compare the sightings of each file
in the case with the reference: a file is either absent or has exactly its rows. When
a case holds the whole production it starts a new one. At the end the last case is
loaded to completion and must equal the reference movements.
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

RPA = [sys.executable, "-m", "analyzer"]


def rows_by_file(case: Path) -> dict[str, int]:
    con = duckdb.connect(str(case / "rpa.duckdb"), read_only=True)
    try:
        return dict(con.execute(
            "SELECT s.sha256, count(t.sighting_id) FROM sources s LEFT JOIN sightings t USING (source_id) GROUP BY s.sha256"
        ).fetchall())
    finally:
        con.close()


def movements(case: Path) -> tuple:
    con = duckdb.connect(str(case / "rpa.duckdb"), read_only=True)
    try:
        return con.execute("SELECT count(*), sum(amount) FROM transactions").fetchall()[0]
    finally:
        con.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--movements", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="rpa-kill-"))
    try:
        world = work / "world"
        subprocess.run([*RPA, "synth", str(world), "--format", "tenpay", "--movements", str(args.movements)],
                       check=True, capture_output=True)
        prod = world / "tenpay"
        ref = work / "ref"
        subprocess.run([*RPA, "init", str(ref)], check=True, capture_output=True)
        t0 = time.monotonic()
        subprocess.run([*RPA, "ingest", str(prod), "--case", str(ref)], check=True, capture_output=True)
        full = time.monotonic() - t0
        reference = rows_by_file(ref)
        print(f"production: {len(reference)} files, {sum(reference.values()):,} rows; uninterrupted ingest {full:.1f} s")

        kills = half = broken = cases = 0
        case = None
        while kills < args.kills:
            if case is None:
                cases += 1
                case = work / f"case{cases}"
                subprocess.run([*RPA, "init", str(case)], check=True, capture_output=True)
            proc = subprocess.Popen([*RPA, "ingest", str(prod), "--case", str(case)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.05, full * 1.1))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait()
            status = subprocess.run([*RPA, "status", "--case", str(case)], capture_output=True)
            if status.returncode != 0:
                broken += 1
                print(f"kill {kills}: the case does not open: {status.stderr.decode()[:200]}")
                case = None
                continue
            held = rows_by_file(case)
            wrong = {sha: n for sha, n in held.items() if reference.get(sha) != n}
            if wrong:
                half += len(wrong)
                print(f"kill {kills}: {len(wrong)} file(s) half-loaded")
            if len(held) == len(reference):
                case = None
        # the last interrupted case, completed, is the reference
        last = work / f"case{cases}"
        subprocess.run([*RPA, "ingest", str(prod), "--case", str(last)], capture_output=True)
        same = movements(last) == movements(ref)
        print(f"kills: {kills} in {cases} case(s); half-loaded files: {half}; cases that did not open: {broken}; "
              f"completed case equals the reference: {same}")
        if half or broken or not same:
            sys.exit(1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
