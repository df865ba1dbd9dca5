"""Reading in parts: files and byte ranges of large files, on local processes (--jobs) or a Dask cluster.

The input is cut into work units: whole files, and for large plain files byte ranges cut at line ends
(compressed files, stdin and journald input stay whole). Every unit is read and folded by the same
function, `run_unit`, whichever engine runs it; the partial results are merged in input order, so the
output equals a single-process run. No state spans lines (each line is parsed alone), so a cut between
two lines loses nothing; year-less timestamps are read against the file's mtime in every part, which is
right for files that span less than a year (with --year, files are not cut).
"""
from __future__ import annotations

import collections
import functools
import io
import math
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from . import blockscan
from .aggregate import Summary, classified, summarise
from .catalogue import load_catalogue
from .classify import Classifier
from .errors import UsageError
from .events import ParseStats
from .reader import ReadOptions, read_batches, read_events
from .sources import JOURNAL_SNIFF_BYTES, Source, compression, is_journal_head
from .spikes import FailureTally, SpikeSettings, summarise_with_failures

MIN_RANGE_BYTES = 16 << 20   # smaller files are not worth cutting
MAX_RANGE_BYTES = 64 << 20   # a part's summary is small, but its reading should still be shared out
# A part's event text is held whole by its worker and by this process until its turn to be written: about
# twice the bytes of the part. For `events`, parts are smaller, and a part that cannot be cut to a bounded
# size (a compressed file, stdin, a URL, a large journal) is read here, streaming, in its turn.
EVENTS_RANGE_BYTES = 8 << 20


@dataclass(frozen=True, slots=True)
class Job:
    """What every unit does: the read options (without open files) and what to fold the events into."""

    mode: str
    options: ReadOptions
    rules: tuple[str, ...] = ()
    spike_settings: SpikeSettings | None = None


@dataclass(slots=True)
class UnitResult:
    payload: object
    stats: ParseStats
    unparsed: str
    size: int


def plan_units(sources: list[Source], parts: int, options: ReadOptions,
               max_range: int = MAX_RANGE_BYTES) -> list[Source]:
    """The sources, with large plain files cut into about `parts` byte ranges at line ends, none longer
    than about `max_range` bytes, and every plain file read up to the size it has now."""
    return [unit for unit, _part in _plan(sources, parts, options, max_range)]


def _plan(sources: list[Source], parts: int, options: ReadOptions, max_range: int) -> list[tuple[Source, bool]]:
    """(unit, True for a byte range of a file that was cut) for each unit, in input order.

    Lines appended while the run goes on are left for the next run, whichever engine and however many
    processes read: each unit of a plain file ends where the file ended when it was planned. Compressed
    files and stdin are read to their end.
    """
    cut = parts > 1 and blockscan.available() and options.year is None and options.engine != "line"
    units: list[tuple[Source, bool]] = []
    for source in sources:
        head = None if source.streamed else _head(source, JOURNAL_SNIFF_BYTES)
        if head is None or compression(head) is not None:
            units.append((source, False))  # read to its end; an unreadable file is the reader's to report
            continue
        size = source.size()
        if not cut or size < MIN_RANGE_BYTES or is_journal_head(head):  # a journald record may span a cut
            units.append((replace(source, end=size), False))
        else:
            count = max(min(parts * 2, math.ceil(size / MIN_RANGE_BYTES)), math.ceil(size / max_range), 2)
            units.extend((unit, True) for unit in _ranges(source, count, size))
    return units


def _head(source: Source, size: int) -> bytes | None:
    """The first `size` bytes of a local file, as stored; None when it cannot be read."""
    try:
        with open(source.path, "rb") as handle:
            return handle.read(size)
    except OSError:
        return None


def _ranges(source: Source, count: int, size: int) -> list[Source]:
    """`count` ranges of a plain file of `size` bytes, each starting at a line start, with its first line
    number."""
    cuts = [0]
    with open(source.path, "rb") as handle:
        for index in range(1, count):
            position = _next_line_start(handle, max(cuts[-1], size * index // count))
            if cuts[-1] < position < size:
                cuts.append(position)
        cuts.append(size)
        ranges = []
        line_no = 1
        for start, end in zip(cuts, cuts[1:]):
            ranges.append(replace(source, start=start, end=end, first_line_no=line_no))
            handle.seek(start)
            line_no += _count_newlines(handle, end - start)
    return ranges


def _next_line_start(handle, offset: int) -> int:
    """The offset just past the first line end at or after `offset` (the file size if there is none)."""
    handle.seek(offset)
    while chunk := handle.read(1 << 16):  # a piece at a time: a line may be as long as the file
        end = chunk.find(b"\n")
        if end >= 0:
            return offset + end + 1
        offset += len(chunk)
    return offset


def _count_newlines(handle, length: int) -> int:
    newlines = 0
    while length > 0:
        chunk = handle.read(min(length, 8 << 20))
        if not chunk:
            break
        newlines += chunk.count(b"\n")
        length -= len(chunk)
    return newlines


def run_unit(source: Source, job: Job, out=None,
             progress: Callable[[int, int], None] | None = None) -> UnitResult:
    """Read one unit and fold it as the job says. The same function runs locally and on Dask workers.

    In this process, event text is written to `out` as it comes (the payload is then empty), and
    `progress` hears of the bytes and lines of the unit read so far; in a worker, the text is returned.
    """
    stats = ParseStats()
    unparsed = io.StringIO()
    options = replace(job.options, unparsed=unparsed, progress=progress)
    classifier = Classifier(load_catalogue([Path(r) for r in job.rules] or None))
    if options.engine == "frames" and job.mode in ("summary", "analysis", "failures"):
        # The summaries folded from the columnar engine's batches: the same results (tests/test_engines.py).
        payload = _fold_batches(read_batches([source], options, stats), job, classifier)
        return UnitResult(payload, stats, unparsed.getvalue(), source.size())
    events = read_events([source], options, stats)
    if job.mode == "summary":
        payload: object = summarise(events, classifier)
    elif job.mode == "analysis":
        payload = summarise_with_failures(events, classifier, job.spike_settings)
    elif job.mode == "failures":
        payload = FailureTally(job.spike_settings).add_events(events, classifier)
    elif job.mode in ("events-jsonl", "events-csv"):
        from .output import write_events  # output imports this module's callers; keep the edge one-way
        buffer = out if out is not None else io.StringIO()
        write_events(events, buffer, job.mode.split("-")[1], classifier)
        payload = "" if out is not None else buffer.getvalue()
    else:
        raise UsageError(f"unknown work mode {job.mode!r}")
    return UnitResult(payload, stats, unparsed.getvalue(), source.size())


def _fold_batches(batches, job: Job, classifier: Classifier):
    """What run_unit folds events into, from the columnar engine's batches."""
    summary = Summary() if job.mode != "failures" else None
    tally = FailureTally(job.spike_settings) if job.mode != "summary" else None
    for batch in batches:
        frame = classified(batch, classifier)
        if summary is not None:
            summary.add_batch(batch, frame)
        if tally is not None:
            tally.add_batch(batch, frame)
    return {"summary": summary, "analysis": (summary, tally), "failures": tally}[job.mode]


def merge_payloads(mode: str, into, other):
    if mode == "analysis":
        into[0].merge(other[0])
        into[1].merge(other[1])
    elif mode in ("summary", "failures"):
        into.merge(other)
    return into


def run(sources: list[Source], job: Job, jobs: int, scheduler: str | None = None,
        progress: Callable[[int, int], None] | None = None, out=None) -> Iterator[UnitResult]:
    """The units' results in input order, from local processes or (with `scheduler`) a Dask cluster.

    `progress` hears of the bytes and lines read of all the units: as they are read in this process,
    as each unit's result comes back (in input order) from processes or Dask.
    """
    streaming = job.mode.startswith("events-")
    if scheduler is None:
        jobs = min(jobs, default_jobs())
    planned = _plan(sources, jobs if scheduler is None else 64, job.options,
                    EVENTS_RANGE_BYTES if streaming else MAX_RANGE_BYTES)
    units = [unit for unit, _part in planned]
    done = lines = 0

    def here(unit: Source) -> UnitResult:
        # Called when the units before it are counted in: within a plain file, progress goes on from there.
        inner = None
        if progress is not None and _read_as_stored(unit):
            inner = functools.partial(_progress_within, progress, done, lines, unit.size())
        return run_unit(unit, job, out, inner)

    if scheduler is not None:
        results = _run_dask(units, job, scheduler)
    elif jobs <= 1 or len(units) == 1:
        results = map(here, units)
    else:
        results = _run_pool(planned, job, jobs, out if streaming else None)
    for result in results:
        done += result.size
        lines += result.stats.lines_read
        if progress is not None:
            progress(done, lines)
        yield result


def _read_as_stored(unit: Source) -> bool:
    """True when the bytes a reader counts are the bytes of the file, which the total is made of: for the
    plain files, whose planned units carry the size they end at; not for a compressed file (its reader
    counts what it decompresses), stdin or a URL."""
    return unit.end is not None


def _progress_within(progress: Callable[[int, int], None], size_before: int, lines_before: int, unit_size: int,
                     size: int, lines: int) -> None:
    # A reader may count a little more than the file holds (the line end it gives a last line without one,
    # a journald record converted to a longer line); the total it reaches when the unit ends is exact.
    progress(size_before + min(size, unit_size), lines_before + lines)


def _run_pool(planned: list[tuple[Source, bool]], job: Job, jobs: int, out=None) -> Iterator[UnitResult]:
    """The units' results in input order from at most `jobs` processes, with at most 2 per process given
    out at a time, so that the results waiting for their turn stay few.

    With `out` (event text), a unit that is not a part of bounded size is read in this process in its
    turn, its text written to `out` as it comes, while the processes go on with the units after it.
    """
    here = [out is not None and not _bounded(unit, part) for unit, part in planned]
    units = [unit for unit, _part in planned]
    pooled = [index for index in range(len(units)) if not here[index]]
    if not pooled:
        yield from (run_unit(unit, job, out) for unit in units)
        return
    upcoming = iter(pooled)
    workers = pool_size(jobs, len(pooled))
    # The columnar engine's workers start from a fork server: a child forked from a process whose polars
    # thread pool has started inherits the pool without its threads, and its first parallel operation
    # waits for them forever (a test run hung so). The other engines fork, faster, and without polars.
    context = multiprocessing.get_context("forkserver") if job.options.engine == "frames" else None
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        given: dict[int, Future] = {}

        def give_out() -> None:
            while len(given) < 2 * workers and (index := next(upcoming, None)) is not None:
                given[index] = pool.submit(run_unit, units[index], job)

        give_out()
        for index, unit in enumerate(units):
            if here[index]:
                yield run_unit(unit, job, out)
                continue
            result = given.pop(index).result()
            give_out()
            yield result


def _bounded(unit: Source, part: bool) -> bool:
    """True for a byte range of a cut file, or a plain file too small to cut: its event text is bounded."""
    return part or (unit.size() <= MIN_RANGE_BYTES and _read_as_stored(unit))


def _run_dask(units: list[Source], job: Job, scheduler: str) -> Iterator[UnitResult]:
    try:
        from distributed import Client
    except ImportError:
        raise UsageError("--engine dask needs Dask: pip install 'maillog[dask]'") from None
    try:
        client = Client(scheduler, timeout="5s") if isinstance(scheduler, str) else Client(scheduler)
    except (OSError, TimeoutError) as exc:
        raise UsageError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None
    try:
        # As with local processes, at most two units a worker thread are given out at a time: a result
        # waits on its worker until its turn, and the event text of many would fill the cluster's memory.
        window = 2 * max(1, sum(client.nthreads().values()))
        given: collections.deque = collections.deque()
        for unit in units:
            given.append(client.submit(run_unit, unit, job=job, pure=False))
            if len(given) >= window:
                yield given.popleft().result()
        while given:
            yield given.popleft().result()
    finally:
        client.close()


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def pool_size(jobs: int, units: int) -> int:
    """Processes to start for `units` work units: no more than asked, than units, or than the cores this
    process may run on (a larger --jobs would only add processes that wait for a core)."""
    return max(1, min(jobs, units, default_jobs()))


def collect(sources: list[Source], job: Job, jobs: int, scheduler: str | None = None,
            progress: Callable[[int, int], None] | None = None, unparsed=None, out=None):
    """Run the job over the sources and merge: returns (payload, stats). Event text goes to `out`."""
    stats = ParseStats()
    merged = None
    total = sum(source.size() for source in sources)
    if scheduler is None and total < MIN_RANGE_BYTES:
        jobs = 1  # starting worker processes costs more than reading a small input
    for result in run(sources, job, jobs, scheduler, progress, out):
        stats.merge(result.stats)
        if unparsed is not None and result.unparsed:
            unparsed.write(result.unparsed)
        if job.mode.startswith("events-"):
            out.write(result.payload)
        elif merged is None:
            merged = result.payload
        else:
            merged = merge_payloads(job.mode, merged, result.payload)
    if merged is None and not job.mode.startswith("events-"):
        merged = {"summary": Summary, "failures": lambda: FailureTally(job.spike_settings),
                  "analysis": lambda: (Summary(), FailureTally(job.spike_settings))}[job.mode]()
    return merged, stats
