"""From inputs to events: read lines, split headers, hand each message to its MTA's parser.

Every line read ends in exactly one ParseStats outcome, so the counts always add up to lines read.
"""
from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from datetime import tzinfo as TzInfo
from typing import TextIO

from .errors import UsageError
from .events import Event, LineOutcome, ParseStats
from . import parsers
from .parsers import MTA_NAMES, PARSERS, UNRECOGNISED, load_all_patterns, split_header
from . import blockscan
from .sources import MAX_LINE_CHARS, STDIN, Source, looks_like_journal, open_binary, read_lines
from .timestamps import TimestampReader, resolve_timezone


@dataclass(slots=True)
class ReadOptions:
    """How to read: forced MTA, zone of naive timestamps, forced year, where unrecognised lines go."""

    mta: str | None = None
    zone: TzInfo | None = None
    year: int | None = None
    now: datetime | None = None          # reference time instead of each file's mtime (tests)
    unparsed: TextIO | None = None       # receives every unrecognised line, as read
    unrecognised: Callable[[str, int, str], None] | None = None  # told (input, line number, line) of each
    since: datetime | None = None        # keep events at or after this time
    until: datetime | None = None        # keep events before this time
    # auto: blocks with pyarrow when it is there, candidates line by line; line: every line by line;
    # frames: blocks, candidates parsed as polars columns (frames.py) and the summaries folded from them
    # (parallel.run_unit); the prototype of the columnar engine, which no command uses yet
    engine: str = "auto"
    progress: Callable[[int, int], None] | None = None  # told (bytes, lines) read so far, now and then

    def __post_init__(self) -> None:
        if self.mta is not None and self.mta not in MTA_NAMES:
            raise UsageError(f"unknown MTA {self.mta!r}; choose one of {', '.join(MTA_NAMES)}")
        if self.year is not None and not 1970 <= self.year <= 9999:
            raise UsageError(f"--year {self.year} is not a plausible year")
        if self.zone is None:
            self.zone = resolve_timezone(None)
        if self.engine not in ("auto", "line", "frames"):
            raise UsageError(f"unknown engine {self.engine!r}; choose auto, line or frames")


@dataclass(frozen=True, slots=True)
class LineInspection:
    """What the parsers make of one line: for check-patterns and classify-line."""

    outcome: LineOutcome
    mta: str | None = None
    service: str | None = None
    pattern_id: str | None = None
    events: tuple[Event, ...] = ()


def inspect_line(line: str, mta: str | None = None, zone: TzInfo | None = None,
                 now: datetime | None = None) -> LineInspection:
    """Parse one line alone, through the same handler as every other line, saying which pattern matched."""
    zone = zone or resolve_timezone(None)
    handler = LineHandler(Source(STDIN), ReadOptions(mta=mta, zone=zone, now=now or datetime.now(zone),
                                                     engine="line"), ParseStats())
    handler.name = None
    events = tuple(handler.handle(line, 1))
    ((line_mta, outcome),) = handler.tally
    route, pattern = handler.last if line_mta is not None else ((None, None), None)
    return LineInspection(outcome, route[0], route[1], pattern.id if pattern is not None else None, events)


EVENT, NO_EVENT, UNRECOGNISED_LINE = LineOutcome.EVENT, LineOutcome.NO_EVENT, LineOutcome.UNRECOGNISED
FOREIGN, TOO_LONG, REGEX_TIMEOUT = LineOutcome.FOREIGN, LineOutcome.TOO_LONG, LineOutcome.REGEX_TIMEOUT
DAEMON_PROBLEM = LineOutcome.DAEMON_PROBLEM


def read_events(sources: Iterable[Source], options: ReadOptions | None = None,
                stats: ParseStats | None = None) -> Iterator[Event]:
    """Events from the sources in order; `stats` (if given) receives the line counts."""
    options = options or ReadOptions()
    stats = stats if stats is not None else ParseStats()
    since, until = options.since, options.until
    for source in sources:
        if since is None and until is None:
            yield from _read_source(source, options, stats)
            continue
        for event in _read_source(source, options, stats):
            stamp = event.timestamp
            if stamp is None:  # counted as events_without_time where its line was read
                continue
            if not _in_window(stamp, since, until):
                stats.events_outside_range += 1
                continue
            yield event


def _in_window(stamp: datetime, since: datetime | None, until: datetime | None) -> bool:
    """Whether a time is in --since/--until (from since, before until)."""
    return (since is None or stamp >= since) and (until is None or stamp < until)


class LineHandler:
    """Everything the reading of one input keeps between lines; `handle` is the per-line path."""

    def __init__(self, source: Source, options: ReadOptions, stats: ParseStats):
        load_all_patterns()
        self.clock = TimestampReader(options.zone, options.now or source.modified(), options.year)
        self.forced = options.mta
        self.name = source.name
        self.unparsed = options.unparsed
        self.on_unrecognised = options.unrecognised
        self.stats = stats
        # Counted in a local dict on the hot path, folded into `stats` when the input ends.
        self.tally: dict[tuple[str | None, LineOutcome], int] = defaultdict(int)
        self.routes: dict[str | None, tuple[str, str] | None] = {}
        self.lines = self.undecodable = self.events = self.events_without_time = 0
        self.last: tuple[tuple[str, str], object] | None = None  # (route, pattern) of the last MTA line
        self.last_exim_event: tuple | None = None  # (host, pid, message) of the last Exim syslog event line

    def handle(self, line: str, line_no: int) -> list[Event]:
        tally = self.tally
        if len(line) > MAX_LINE_CHARS:
            tally[None, TOO_LONG] += 1
            return NO_EVENTS
        if "\ufffd" in line or "\x00" in line:
            self.undecodable += 1
        header = split_header(line)
        if header is None:
            tally[None, FOREIGN] += 1
            return NO_EVENTS
        program = header.program
        route = self.routes.get(program, False)
        if route is False:
            route = parsers.route(program, self.forced)
            if len(self.routes) < 4096:  # program names are attacker-chosen: keep the cache bounded
                self.routes[program] = route
        if route is None:
            tally[None, FOREIGN] += 1
            return NO_EVENTS
        mta, service = route
        self.last = (route, None)
        try:
            result = PARSERS[mta].parse(service, header.message)
        except TimeoutError:
            tally[mta, REGEX_TIMEOUT] += 1
            return NO_EVENTS
        if result is UNRECOGNISED:
            self.unrecognised(mta, line, line_no)
            return NO_EVENTS
        found_events, pattern = result
        self.last = (route, pattern)
        if not found_events:
            tally[mta, DAEMON_PROBLEM if pattern is not None and pattern.problem else NO_EVENT] += 1
            return NO_EVENTS
        if mta == "exim" and program is not None:
            # Exim through syslog writes a line meant for its main and reject logs twice (syslog_duplication,
            # on by default), the reject copy maybe in "[1\N] " parts: the same message from the same
            # process right after the event it repeats is that copy, not a second event. Only event lines
            # are remembered, so both engines, which parse the same event lines in order, agree; and a copy
            # pairs with one line (two equal refusals in one millisecond, EHLO then HELO, are four lines).
            copy = (header.host, header.pid, PARSERS[mta].prepared(header.message))
            if copy == self.last_exim_event:
                self.last_exim_event = None
                tally[mta, NO_EVENT] += 1
                return NO_EVENTS
            self.last_exim_event = copy
        tally[mta, EVENT] += 1
        timestamp = self.clock.read(header.timestamp_text)
        self.events += len(found_events)
        if timestamp is None:  # Nov 31, Feb 29 of a common year, a garbled stamp: kept, and counted
            self.events_without_time += len(found_events)
        return [Event(timestamp=timestamp, host=header.host, mta=mta, program=program, pid=header.pid,
                      file=self.name, line_no=line_no, **fields) for fields in found_events]

    def unrecognised(self, mta: str, line: str, line_no: int) -> None:
        """Count a line of an MTA that no pattern knows, and show it where asked (--unparsed, --shapes)."""
        self.tally[mta, UNRECOGNISED_LINE] += 1
        if self.unparsed is not None:
            self.unparsed.write(line + "\n")
        if self.on_unrecognised is not None:
            self.on_unrecognised(self.name, line_no, line)

    def close(self) -> None:
        stats = self.stats
        if self.undecodable > max(10, self.lines // 2):
            stats.problems.append(f"{self.name}: {self.undecodable} of {self.lines} lines hold invalid UTF-8 or "
                                  f"NUL bytes; is this a binary file? (they were counted, not parsed as events)")
        stats.lines_read += self.lines
        stats.events += self.events
        stats.events_without_time += self.events_without_time
        stats.undecodable_lines += self.undecodable
        for (mta, outcome), lines in self.tally.items():
            stats.count(mta, outcome, lines)


NO_EVENTS: list[Event] = []


def _candidate_batch(candidates: list[tuple[int, str]], handler: LineHandler, forced: str | None):
    """The events of a block's candidate lines, as a frames.EventBatch: parsed as columns where frames.py
    can, by the line engine where it cannot, in line order (the clock and Exim's copy detection read lines
    in order)."""
    import numpy as np
    import polars as pl

    from . import frames
    parsed = frames.parse_candidates(pl.Series([line for _, line in candidates], dtype=pl.String), forced)
    outcome, mtas = parsed.outcome, parsed.mta
    tally = handler.tally
    for kind, name in ((frames.NO_EVENT_ROW, NO_EVENT), (frames.PROBLEM_ROW, DAEMON_PROBLEM)):
        for row in np.flatnonzero(outcome == kind).tolist():
            tally[mtas[row], name] += 1
    event_rows = parsed.events["row"].to_list()
    stamp_texts = parsed.events["ts"].to_list()
    bulk_order = [0] * len(event_rows)
    line_nos = [0] * len(event_rows)
    others: list[Event] = []
    other_order: list[int] = []
    stamps: list = []
    next_event = 0
    read_clock = handler.clock.read
    for row in np.flatnonzero((outcome == frames.TO_LINE_ENGINE) | (outcome == frames.EVENT_ROW)
                              | (outcome == frames.UNKNOWN_ROW)).tolist():
        line_no, line = candidates[row]
        verdict = outcome[row]
        if verdict == frames.TO_LINE_ENGINE:
            for event in handler.handle(line, line_no):
                other_order.append(len(stamps))
                others.append(event)
                stamps.append(event.timestamp)
            continue
        if verdict == frames.UNKNOWN_ROW:
            handler.unrecognised(mtas[row], line, line_no)
            continue
        tally[mtas[row], EVENT] += 1
        first = next_event
        while next_event < len(event_rows) and event_rows[next_event] == row:
            next_event += 1
        timestamp = read_clock(stamp_texts[first])
        handler.events += next_event - first
        if timestamp is None:
            handler.events_without_time += next_event - first
        for index in range(first, next_event):
            bulk_order[index] = len(stamps)
            line_nos[index] = line_no
            stamps.append(timestamp)
    return frames.assemble_batch(parsed.events, bulk_order, line_nos, others, other_order, stamps, handler.name)


BATCH_EVENTS = 65536  # events read line by line (a journal, the line engine) are batched this many at a time


def read_batches(sources: Iterable[Source], options: ReadOptions, stats: ParseStats | None = None):
    """The events of the sources as frames.EventBatch columns, in order, in the range asked for: the
    columnar engine's reading (options.engine "frames")."""
    from . import frames
    stats = stats if stats is not None else ParseStats()
    since, until = options.since, options.until
    for source in sources:
        handler = LineHandler(source, options, stats)
        try:
            if _by_line(source, options):
                events = _read_by_line(source, handler, options.progress)
                while chunk := list(itertools.islice(events, BATCH_EVENTS)):
                    yield _in_range(frames.batch_of_events(chunk, handler.name), since, until, stats)
            else:
                for candidates in _candidate_blocks(source, handler, options):
                    yield _in_range(_candidate_batch(candidates, handler, options.mta), since, until, stats)
        finally:
            handler.close()


def _in_range(batch, since: datetime | None, until: datetime | None, stats: ParseStats):
    """The batch without the events outside --since/--until (counted) and, with either, those without a
    time (counted where their line was read), as read_events() leaves them out."""
    if since is None and until is None:
        return batch
    keep = [stamp is not None and _in_window(stamp, since, until) for stamp in batch.stamps]
    stats.events_outside_range += sum(1 for stamp, kept in zip(batch.stamps, keep) if stamp is not None and not kept)
    if all(keep):
        return batch
    import polars as pl

    from .frames import EventBatch
    return EventBatch(batch.frame.filter(pl.Series(keep)), [s for s, k in zip(batch.stamps, keep) if k], batch.file)


def _by_line(source: Source, options: ReadOptions) -> bool:
    # A unit that ends where its file ended when the run was planned is read by the engine asked for;
    # only plain files of lines are cut into ranges, and a range never starts a journal.
    return (options.engine == "line" or not blockscan.available()
            or (source.start == 0 and looks_like_journal(source)))


def _read_source(source: Source, options: ReadOptions, stats: ParseStats) -> Iterator[Event]:
    if options.engine == "frames":
        for batch in read_batches([source], replace(options, since=None, until=None), stats):
            yield from batch.events()
        return
    handler = LineHandler(source, options, stats)
    try:
        if _by_line(source, options):
            yield from _read_by_line(source, handler, options.progress)
        else:
            yield from _read_by_block(source, handler, options)
    finally:
        handler.close()


def _read_by_line(source: Source, handler: LineHandler, progress=None) -> Iterator[Event]:
    handle = handler.handle
    line_no = 0
    size = 0
    for line in read_lines(source, handler.stats.problems):
        line_no += 1
        handler.lines = line_no
        if progress is not None:
            size += len(line) + 1
            if not line_no & 0xFFFF:
                progress(size, line_no)
        found = handle(line, line_no)
        if found:
            yield from found


def _read_by_block(source: Source, handler: LineHandler, options: ReadOptions) -> Iterator[Event]:
    handle = handler.handle
    for candidates in _candidate_blocks(source, handler, options):
        for line_no, line in candidates:
            found = handle(line, line_no)
            if found:
                yield from found


def _candidate_blocks(source: Source, handler: LineHandler, options: ReadOptions) -> Iterator[list[tuple[int, str]]]:
    """The candidate lines of each block of the source; the quiet lines are counted on the way."""
    tally = handler.tally
    size = 0
    limit = None if source.end is None else source.end - source.start
    factor = blockscan.FRAME_BLOCK_FACTOR if options.engine == "frames" else 1
    with open_binary(source, handler.stats.problems) as stream:
        for block in blockscan.scan(stream, MAX_LINE_CHARS, options.mta, source.first_line_no, limit, factor):
            if block.candidates:
                yield block.candidates
            for mta, lines in block.quiet.items():
                if not lines:
                    continue
                if mta:
                    tally[mta, NO_EVENT] += lines
                else:
                    tally[None, FOREIGN] += lines
            handler.lines += block.lines
            size += block.size
            if options.progress is not None:
                options.progress(size, handler.lines)
