"""Benchmark: `rpa report` over N movements — build time, size, peak memory.

    python benchmarks/report.py --rows 1000000 --rows 10000000

Builds, per size, the synthetic case of benchmarks/scan.py (50,000 persons, households,
friends, shops, AA bills, officials with subordinates and service objects, festival
peaks), runs `rpa scan` on it (all rules: hundreds of thousands of findings at 10M),
then times `rpa report` and `rpa report --mask` in fresh processes and reports wall
time, peak memory (max RSS of the child) and the report's size on disk.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _scan_benchmark():
    """benchmarks/scan.py as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("scan_benchmark", HERE / "scan.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, action="append", help="movements (repeatable); default 1M")
    parser.add_argument("--one", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    rpa = shutil.which("rpa") or "rpa"
    if args.one:  # runner process: time one command, so ru_maxrss is its own
        seconds, peak, _ = _scan_benchmark().timed([rpa, *args.one])
        print(f"{seconds:.1f}\t{peak:.0f}")
        return
    scan = _scan_benchmark()
    for rows in args.rows or [1_000_000]:
        with tempfile.TemporaryDirectory() as tmp:
            case = Path(tmp) / "case"
            t0 = time.perf_counter()
            scan.build(case, rows)
            built = time.perf_counter() - t0
            t0 = time.perf_counter()
            found = subprocess.run([rpa, "scan", "--case", str(case)], check=True, capture_output=True, text=True).stdout
            scanned = time.perf_counter() - t0
            print(f"{rows:>11,} movements (built in {built:.0f} s, scanned in {scanned:.0f} s: "
                  f"{found.strip().splitlines()[-1]})")
            for label, extra in (("rpa report", []), ("rpa report --mask", ["--mask"])):
                out = Path(tmp) / ("masked" if extra else "plain")
                cmd = ["report", *extra, "--out", str(out), "--case", str(case)]
                result = subprocess.run([sys.executable, __file__, "--one", *cmd], check=True, capture_output=True, text=True)
                seconds, peak = result.stdout.strip().split("\t")
                pages = sum(1 for _ in out.rglob("*.html"))
                print(f"    {label}: {seconds} s, peak {peak} MiB, {size(out) / 2**20:.1f} MiB in {pages} pages")


if __name__ == "__main__":
    main()
