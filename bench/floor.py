"""The least time maillog's architecture can take for `report` on a generated log, against the other tool.

    python -m bench.floor [--lines 1000000] [--mta postfix,exim]

It adds up only what no run can skip, each measured alone: starting Python with numpy, pyarrow and regex;
reading the file and marking its candidate lines with one RE2 search (the block engine's own prefilter);
and one match per event line against the pattern that parses it, by the fastest of three engines: the
regex module (which maillog uses), the stdlib `re` (which cannot take every pattern as written: a name used
twice is numbered here, a pattern it still refuses is left out and its lines are counted at the average
cost of the others; timing only, as `re` does not always find the same fields), and pyarrow's
extract_regex (RE2), which runs per pattern over all its lines at once. Timestamps, fields,
classification and counting are left out, so the real floor of this architecture (a Python process
with these libraries and one Python-level match per event line) is higher. The other tool (pflogsumm,
eximstats) is timed in the same run, when installed. The printout is also written to bench/FLOOR.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

from analyzer import blockscan
from analyzer.parsers import PARSERS, identify_program, load_all_patterns, split_header
from analyzer.sources import MAX_LINE_CHARS, LineCutter, bytes_for_chars

from .generate import generate_lines, write_lines
from .run import timed

IMPORTS = "import numpy, pyarrow.compute, regex"
RESULTS = Path(__file__).resolve().parent / "FLOOR.md"
TARGET = 5  # the performance issue's target for one process
OTHER_TOOLS = {"postfix": "pflogsumm", "exim": "eximstats"}


def start_seconds() -> float:
    return statistics.median(timed([sys.executable, "-c", IMPORTS])[0] for _ in range(5))


def scan_seconds(log: str) -> float:
    """Read the log in the block engine's blocks, cut them into lines and run its prefilter once."""
    blockscan.available()
    prefilter = blockscan._prefilter_pattern(None)
    cutter = LineCutter(bytes_for_chars(MAX_LINE_CHARS))
    started = time.perf_counter()
    with open(log, "rb") as handle:
        while True:
            chunk = handle.read(blockscan.BLOCK_BYTES)
            data = cutter.feed(chunk) if chunk else cutter.finish()
            if data:
                blockscan.pc.match_substring_regex(blockscan.arrow_lines(data)[2], prefilter)
            if not chunk:
                return time.perf_counter() - started


def event_messages(log: str, mta: str) -> dict:
    """pattern -> the messages of the event lines it parses."""
    parser = PARSERS[mta]
    found = defaultdict(list)
    with open(log, encoding="utf-8") as handle:
        for line in handle:
            header = split_header(line.rstrip("\n"))
            if header is None:
                continue
            service = identify_program(header.program)[1] if header.program else "exim"
            message = parser.prepared(header.message)
            matched = parser.match(service, message)
            if isinstance(matched, tuple) and matched[0].event:
                found[matched[0]].append(message)
    return found


def stdlib_compiled(pattern) -> re.Pattern | None:
    """The pattern compiled by the stdlib `re`, each repeated group name numbered; None where `re` refuses it."""
    uses: dict[str, int] = defaultdict(int)

    def number(found: re.Match) -> str:
        uses[found.group(1)] += 1
        return f"(?P<{found.group(1)}{uses[found.group(1)]}>"

    try:
        return re.compile(re.sub(r"\(\?P<(\w+)>", number, pattern.pattern))
    except re.error:
        return None


def match_seconds(messages: dict) -> tuple[dict[str, float], dict[str, list[str]]]:
    """Seconds to match every event message once against its pattern, by engine, and by engine the patterns
    it cannot compile. An engine's time for those patterns' lines is extrapolated from the lines of the
    patterns it takes, at the same cost a line."""
    pa, pc = blockscan.pa, blockscan.pc
    events = sum(len(texts) for texts in messages.values())
    seconds: dict[str, float] = defaultdict(float)
    lines: dict[str, int] = defaultdict(int)
    refused: dict[str, list[str]] = defaultdict(list)
    for pattern, texts in messages.items():
        stdlib = stdlib_compiled(pattern.regex)
        for engine, compiled in (("regex module", pattern.regex), ("stdlib re", stdlib)):
            if compiled is None:
                refused[engine].append(pattern.id)
                continue
            match = compiled.match
            started = time.perf_counter()
            for text in texts:
                match(text)
            seconds[engine] += time.perf_counter() - started
            lines[engine] += len(texts)
        if stdlib is None:
            refused["pyarrow extract_regex"].append(pattern.id)
            continue
        column = pa.array(texts)
        started = time.perf_counter()
        try:
            pc.extract_regex(column, stdlib.pattern)  # RE2 takes one name per group, as `re` does
        except pa.ArrowInvalid:
            refused["pyarrow extract_regex"].append(pattern.id)
            continue
        seconds["pyarrow extract_regex"] += time.perf_counter() - started
        lines["pyarrow extract_regex"] += len(texts)
    spent = {engine: seconds[engine] / lines[engine] * events for engine in seconds if lines[engine]}
    return spent, dict(refused)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--mta", default="postfix,exim")
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args(argv)
    load_all_patterns()
    said: list[str] = []

    def say(text: str) -> None:
        said.append(text)
        print(text, flush=True)

    start = start_seconds()
    say(f"start-up (python -c '{IMPORTS}'): {start:.2f} s")
    with tempfile.TemporaryDirectory() as folder:
        for mta in options.mta.split(","):
            log = os.path.join(folder, f"{mta}.log")
            write_lines(generate_lines(mta, options.lines, options.seed, datetime(2026, 11, 20), days=3), log)
            scan = scan_seconds(log)
            messages = event_messages(log, mta)
            matches, refused = match_seconds(messages)
            fastest = min(matches, key=matches.get)
            floor = start + scan + matches[fastest]
            events = sum(len(texts) for texts in messages.values())
            say(f"{mta}: {options.lines:,} lines, {events:,} event lines")
            say(f"  read and prefilter: {scan:.2f} s")
            for engine, seconds in matches.items():
                say(f"  one match per event line, {engine}: {seconds:.2f} s ({seconds / events * 1e6:.2f} us a line)")
            for engine, patterns in refused.items():
                say(f"  ({engine} cannot compile {len(patterns)} of the {len(messages)} patterns met: "
                    f"{', '.join(patterns)})")
            say(f"  floor: {floor:.2f} s (start-up + scan + {fastest})")
            tool = OTHER_TOOLS.get(mta)
            if tool and shutil.which(tool):
                other = timed([tool, log])[0]
                say(f"  {tool}: {other:.2f} s; the floor is {other / floor:.1f}x as fast")
                left = other / TARGET - floor
                say(f"  {TARGET}x {tool} is {other / TARGET:.2f} s: " + (
                    f"{left:.2f} s ({left / events * 1e6:.2f} us an event line) left for timestamps, fields, "
                    "classification and counting" if left > 0 else "less than the floor"))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    RESULTS.write_text(f"# Floor of the architecture\n\nWritten by `python -m bench.floor --lines {options.lines} "
                       f"--mta {options.mta}` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC ({machine}).\n\n"
                       "```\n" + "\n".join(said) + "\n```\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
