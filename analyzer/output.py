"""Writing what the commands produce: event streams, line counts, and files written whole or not at all."""
from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from .errors import MaillogError, UsageError
from .events import EVENT_FIELDS, Event, LineOutcome, ParseStats, event_record

EVENT_FORMATS = ("jsonl", "csv")


@contextlib.contextmanager
def atomic_text_file(path: Path | None) -> Iterator[TextIO | None]:
    """A text file that appears at `path` only if the block succeeds (temporary file + rename)."""
    if path is None:
        yield None
        return
    directory = path.parent if str(path.parent) else Path(".")
    try:
        handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", newline="", dir=directory,
                                             prefix=f".{path.name}.", suffix=".tmp", delete=False)
    except OSError as exc:
        raise MaillogError(f"{path}: cannot write here: {exc.strerror or exc}") from None
    try:
        with handle:
            yield handle
        os.replace(handle.name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(handle.name)
        raise


def write_events(events: Iterable[Event], out: TextIO, format: str) -> int:
    """Stream events as JSON lines or CSV rows with the public field names; returns the count."""
    if format not in EVENT_FORMATS:
        raise UsageError(f"unknown format {format!r}; choose one of {', '.join(EVENT_FORMATS)}")
    written = 0
    if format == "jsonl":
        dumps = json.dumps
        for event in events:
            out.write(dumps(event_record(event), ensure_ascii=False) + "\n")
            written += 1
        return written
    writer = csv.DictWriter(out, fieldnames=EVENT_FIELDS, lineterminator="\n")
    writer.writeheader()
    for event in events:
        writer.writerow(event_record(event))
        written += 1
    return written


def format_stats(stats: ParseStats) -> str:
    """Line counts per MTA: read, with events, recognised without event, unrecognised, skipped."""
    columns = [o.value for o in LineOutcome]
    lines = [f"lines read: {stats.lines_read}, events: {stats.events}"
             + (f", lines with undecodable bytes: {stats.undecodable_lines}" if stats.undecodable_lines else "")]
    width = max([len(m) for m in stats.by_mta] + [8])
    lines.append(f"{'mta':<{width}} " + " ".join(f"{c:>13}" for c in columns))
    for mta, counts in sorted(stats.by_mta.items()):
        lines.append(f"{mta:<{width}} " + " ".join(f"{counts.get(c, 0):>13}" for c in columns))
    return "\n".join(lines)
