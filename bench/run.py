"""Time maillog against the floor of a bare line loop and against pflogsumm/eximstats, on generated logs.

    python -m bench.run [--lines 1000000] [--rounds 1] [--mta postfix,exim,sendmail] [--jobs 2]

Every command runs once per round, all commands alternating within a round (machines here are noisy:
compare figures from the same run only). Prints lines/s, the ratio to the fastest other tool, and peak
memory, and writes the table to bench/RESULTS.md with the machine it ran on.
"""
from __future__ import annotations

import argparse
import compileall
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import analyzer

from .generate import generate_lines, write_lines

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
FLOOR = "import sys\ncount = 0\nfor line in open(sys.argv[1], 'rb'):\n    count += 1\n"


def timed(command: list[str]) -> tuple[float, int]:
    """Wall seconds and peak resident memory (KiB) of one command, from its own rusage."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{' '.join(command)} failed: {process.stderr.read().decode(errors='replace')[-500:]}")
    process.stderr.close()
    return seconds, usage.ru_maxrss


def commands(mta: str, log: str, out: str, jobs: int) -> dict[str, list[str]]:
    maillog = [sys.executable, "-m", "analyzer"]
    found = {
        "floor: python line loop": [sys.executable, "-c", FLOOR, log],
        "maillog events": [*maillog, "events", log, "--jobs", "1"],
        "maillog analyze": [*maillog, "analyze", log, "--jobs", "1"],
        "maillog report --daily": [*maillog, "report", log, "--daily", "--jobs", "1", "-o", out],
        f"maillog report --daily --jobs {jobs}": [*maillog, "report", log, "--daily", "--jobs", str(jobs), "-o", out],
    }
    if mta == "postfix" and shutil.which("pflogsumm"):
        found["pflogsumm"] = ["pflogsumm", log]
    if mta == "exim" and shutil.which("eximstats"):
        found["eximstats"] = ["eximstats", log]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--mta", default="postfix,exim,sendmail")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args(argv)
    # Timed as an installed copy starts, with its bytecode compiled (pip compiles it on install); a checkout
    # run with PYTHONDONTWRITEBYTECODE set would otherwise compile every module at every start (0.08 s).
    compileall.compile_dir(os.path.dirname(analyzer.__file__), quiet=1)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for mta in options.mta.split(","):
            log = os.path.join(folder, f"{mta}.log")
            write_lines(generate_lines(mta, options.lines, options.seed, datetime(2026, 11, 20), days=3), log)
            runs = commands(mta, log, os.path.join(folder, "report.csv"), options.jobs)
            measured: dict[str, list[tuple[float, int]]] = {name: [] for name in runs}
            for _round in range(options.rounds):
                for name, command in runs.items():
                    measured[name].append(timed(command))
            others = [statistics.median(s for s, _ in measured[n]) for n in measured if not n.startswith(("maillog",
                                                                                                          "floor"))]
            for name, results in measured.items():
                seconds = statistics.median(s for s, _ in results)
                memory = max(m for _, m in results)
                ratio = f"{min(others) / seconds:.2f}x" if others and name.startswith("maillog") else ""
                rows.append((mta, name, seconds, options.lines / seconds, memory / 1024, ratio))
                print(f"{mta:9} {name:36} {seconds:7.2f} s {options.lines / seconds:11,.0f} lines/s "
                      f"{memory / 1024:7.0f} MiB {ratio}", flush=True)
    write_results(rows, options)
    return 0


def write_results(rows, options) -> None:
    machine = (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
               f"{platform.system()} {platform.release()}")
    lines = [
        "# Benchmark results", "",
        f"Written by `python -m bench.run --lines {options.lines} --rounds {options.rounds} --mta {options.mta} "
        f"--jobs {options.jobs}` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.", "",
        f"Machine: {machine}. Logs: generated by bench.generate (seed {options.seed}), {options.lines:,} lines each.",
        "All commands of one MTA ran alternating in the same run; `vs other tool` is the other tool's time over",
        "maillog's (above 1 means maillog is faster).", "",
        "| MTA | command | seconds | lines/s | peak MiB | vs other tool |", "|---|---|---:|---:|---:|---:|"]
    for mta, name, seconds, rate, memory, ratio in rows:
        lines.append(f"| {mta} | {name} | {seconds:.2f} | {rate:,.0f} | {memory:.0f} | {ratio} |")
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
