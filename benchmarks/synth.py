"""Benchmark: `rpa synth` at scale, time and peak memory (max RSS of the child process).

    python benchmarks/synth.py                       # 1M canonical, 1M mixed, 10M canonical
    python benchmarks/synth.py --run 1000000:canonical
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT = ["1000000:canonical", "1000000:mixed", "10000000:canonical"]


def one(movements: int, fmt: str) -> tuple[float, float, int]:
    """(seconds, peak MiB, bytes written) of one `rpa synth` in a fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "world"
        cmd = [sys.executable, "-m", "analyzer", "synth", str(out), "--movements", str(movements), "--format", fmt, "--seed", "1"]
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--child", *cmd], check=True, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        peak = float(proc.stdout.strip().splitlines()[-1])
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) if out.exists() else 0
    return seconds, peak, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", action="append", help="MOVEMENTS:FORMAT (repeatable)")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # runner: run the command, print its peak RSS (MiB) alone
        subprocess.run(args.child, check=True, stdout=subprocess.DEVNULL)
        print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
        return
    print(f"{'movements':>12}  {'format':<10} {'seconds':>8} {'peak MiB':>9} {'output MiB':>11}")
    for spec in args.run or DEFAULT:
        n, fmt = spec.split(":")
        seconds, peak, size = one(int(n), fmt)
        print(f"{int(n):>12,}  {fmt:<10} {seconds:>8.1f} {peak:>9.0f} {size / 2**20:>11.0f}", flush=True)


if __name__ == "__main__":
    shutil.which("rpa")
    main()
