"""Hostile-input benchmark: the slowest line of a hostile corpus, and peak memory on a large log.

    python -m bench.hostile [--lines 2000000] [--seed 1]

The corpus is built here: worst-case strings for every line pattern (long runs of what its loops
repeat, behind the pattern's own keyword), injection payloads in every attacker-written slot of real
line shapes, 1 MB lines, and random bytes. Peak memory is measured on `maillog report` and
`maillog spikes` over a generated Postfix log, in child processes (ru_maxrss).
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time

from analyzer.parsers import PARSERS
from analyzer.reader import inspect_line

from .generate import generate_lines, write_lines
from .run import timed

RUNS = (" ", "a", "[", "]", "<", "(", "1.", ":", "=", ", x=", ", relay=", " [", "; from=<", '" H=', "550 ")
PROGRAM_PREFIXES = ("Nov 28 10:00:01 mx1 postfix/smtpd[1]: ", "Nov 28 10:00:01 mx1 postfix/smtp[1]: ",
                    "Nov 28 10:00:01 mx1 postfix/postscreen[1]: ", "2026-11-28 10:00:01 ",
                    "Nov 28 10:00:01 mx1 sm-mta[1]: ")


def hostile_lines(seed: int) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for parser in PARSERS.values():
        for pattern in parser.patterns:
            for literal in pattern.contains:
                for run in RUNS:
                    for prefix in PROGRAM_PREFIXES:
                        lines.append(prefix + literal + run * (20000 // len(run)))
    for prefix in PROGRAM_PREFIXES:
        lines.append(prefix + "x" * 1_048_576)
        for _ in range(50):
            junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
            lines.append(prefix + junk.decode("utf-8", "replace"))
    return lines


def worst_line_time(lines: list[str]) -> tuple[float, str]:
    worst, which = 0.0, ""
    for line in lines:
        started = time.perf_counter()
        inspect_line(line)
        spent = time.perf_counter() - started
        if spent > worst:
            worst, which = spent, line[:80]
    return worst, which


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args(argv)
    corpus = hostile_lines(options.seed)
    worst, which = worst_line_time(corpus)
    print(f"hostile corpus: {len(corpus)} lines; slowest line {worst * 1000:.1f} ms ({which!r}...)")
    from datetime import datetime
    with tempfile.TemporaryDirectory() as folder:
        log = os.path.join(folder, "mail.log")
        write_lines(generate_lines("postfix", options.lines, options.seed, datetime(2026, 11, 1), days=14), log)
        size = os.path.getsize(log) / 2 ** 20
        for command in (["report", log, "-o", os.path.join(folder, "r.csv")], ["spikes", log]):
            seconds, peak = timed([sys.executable, "-m", "analyzer", *command])
            print(f"maillog {command[0]} on {options.lines} lines ({size:.0f} MiB): {seconds:.1f} s, "
                  f"peak RSS {peak / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
