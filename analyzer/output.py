"""Writing what the commands produce: event streams, CSV, line counts, progress, files written whole or not at all."""
from __future__ import annotations

import contextlib
import csv
import json
import operator
import os
import re
import stat
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from .catalogue import Catalogue
from .classify import CLASSIFICATION_FIELDS, Classifier
from .errors import MaillogError, UsageError, check_format
from .events import EVENT_FIELDS, Event, LineOutcome, ParseStats, event_record
from .reader import inspect_line
from .report import BIDI_CONTROLS, neutralise_cell
from .sources import Source, read_lines

if TYPE_CHECKING:  # pandas is imported where a table is built: it is a fifth of the start-up of a
    import pandas as pd  # command, and events, spikes, watch and explain build no table

EVENT_FORMATS = ("jsonl", "csv")


def event_fields(classified: bool = True) -> tuple[str, ...]:
    return EVENT_FIELDS + (CLASSIFICATION_FIELDS if classified else ())


def event_csv_header(classified: bool = True) -> str:
    return ",".join(event_fields(classified)) + "\n"


# json.dumps leaves U+007F-U+009F as they are; some terminals act on them (0x9B is an 8-bit CSI).
C1_AS_JSON = {code: f"\\u{code:04x}" for code in range(0x7F, 0xA0)}
# Event fields a client or a remote server wrote: neutralised in CSV, which spreadsheets open.
LOG_TEXT_FIELDS = ("client_host", "relay_host", "sender", "recipient", "command", "reply_text", "sasl_username",
                   "host", "program", "detail")


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


class OutputFile:
    """An output named on the command line, made ready before any input is read (so that a report that
    cannot be written fails at once, not after the logs were read) and appearing only once written whole.

    A regular file, or a name not yet taken, is written to a temporary file beside it and renamed over it
    on commit; through a symlink the file it points to is the one replaced, so the link stays a link. A
    device or a FIFO (/dev/null, /dev/stdout, a named pipe) is written into directly: renaming over it would
    put a regular file in its place (as root, `-o /dev/null` in a cron job would replace the system's)."""

    def __init__(self, target: str | Path):
        self.name = str(target)
        self.path = os.path.realpath(self.name)
        self.handle: TextIO | None = None
        self._temporary: str | None = None
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            status = None
        except OSError as exc:
            raise MaillogError(f"{self.name}: cannot write here: {exc.strerror or exc}") from None
        self.direct = status is not None and not stat.S_ISREG(status.st_mode)
        if self.direct:
            if stat.S_ISDIR(status.st_mode):
                raise MaillogError(f"{self.name}: is a directory; name a file to write")
            if not os.access(self.path, os.W_OK):
                raise MaillogError(f"{self.name}: cannot write here: permission denied")
            return  # opened when written: opening a FIFO waits for its reader
        directory = os.path.dirname(self.path)
        try:
            handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", newline="", dir=directory,
                                                 prefix=f".{os.path.basename(self.path)}.", suffix=".tmp",
                                                 delete=False)
        except OSError as exc:
            raise MaillogError(f"{self.name}: cannot write here: {exc.strerror or exc}") from None
        self.handle, self._temporary = handle, handle.name
        # as the file replaced had it, or as a plain open() would make it (not mkstemp's 0600)
        self._mode = stat.S_IMODE(status.st_mode) if status is not None else 0o666 & ~_umask()
        self._owner = (status.st_uid, status.st_gid) if status is not None else None

    def open(self) -> TextIO:
        """The text stream to write the output into."""
        if self.handle is None:
            try:
                self.handle = open(self.path, "w", encoding="utf-8", newline="")
            except OSError as exc:
                raise MaillogError(f"{self.name}: cannot write here: {exc.strerror or exc}") from None
        return self.handle

    def commit(self) -> None:
        """Close the output; a temporary file takes the target's place."""
        handle = self.open()
        try:
            handle.close()
            if self._temporary is not None:
                os.chmod(self._temporary, self._mode)
                if self._owner is not None and os.geteuid() == 0:
                    os.chown(self._temporary, *self._owner)
                os.replace(self._temporary, self.path)
                self._temporary = None
        except OSError as exc:  # disk full, quota, a directory gone read-only mid-way
            self.discard()
            raise self.failure(exc) from None

    def discard(self) -> None:
        """Give up: the target is left as it was (a device or FIFO may have been written to in part)."""
        if self.handle is not None:
            with contextlib.suppress(OSError):
                self.handle.close()
        if self._temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._temporary)
            self._temporary = None

    def failure(self, exc: OSError) -> MaillogError:
        if self.direct:
            return MaillogError(f"{self.name}: could not be written ({exc.strerror or exc})")
        return MaillogError(f"{self.name}: could not be written ({exc.strerror or exc}); "
                            f"the previous file, if any, is unchanged")

    @contextlib.contextmanager
    def writing(self) -> Iterator[TextIO]:
        """The stream to write into; a failed write (disk full...) is a one-line error naming the file."""
        handle = self.open()
        try:
            yield handle
        except OSError as exc:
            self.discard()
            raise self.failure(exc) from None


@contextlib.contextmanager
def output_files(targets: Iterable[str | Path | None]) -> Iterator[list[OutputFile | None]]:
    """The outputs of one command, all made ready at once and committed together when the block succeeds:
    a report whose HTML page fails leaves its CSV unwritten too (exit 2 promises nothing was written).
    '-' (standard output) and None stand for themselves, as None."""
    prepared: list[OutputFile | None] = []
    try:
        for target in targets:
            prepared.append(None if target is None or str(target) == "-" else OutputFile(target))
        named = [output for output in prepared if output is not None and not output.direct]
        if len({output.path for output in named}) < len(named):  # the last renamed would hide the others
            raise UsageError(f"{named[-1].name}: named for two outputs; give each its own file")
        yield prepared
        for prepared_file in prepared:
            if prepared_file is not None:
                prepared_file.commit()
    finally:
        for prepared_file in prepared:
            if prepared_file is not None:
                prepared_file.discard()


@contextlib.contextmanager
def atomic_text_file(path: Path | str | None) -> Iterator[TextIO | None]:
    """A text file that appears at `path` only if the block succeeds (see OutputFile)."""
    if path is None:
        yield None
        return
    with output_files([path]) as (prepared,):
        with prepared.writing() as handle:
            yield handle


_classification_values = operator.attrgetter(*CLASSIFICATION_FIELDS)


def classified_record(event: Event, classifier: Classifier | None) -> dict:
    """The public event record, with the classification fields when a classifier is given."""
    record = event_record(event)
    if classifier is not None:
        record.update(zip(CLASSIFICATION_FIELDS, _classification_values(classifier(event))))
    return record


# json.dumps builds an encoder at every call; `events` encodes millions of records.
_ENCODERS = {False: json.JSONEncoder(ensure_ascii=False).encode,
             True: json.JSONEncoder(ensure_ascii=False, indent=2).encode}


def json_text(value, indented: bool = False) -> str:
    """JSON (on one line, or indented): UTF-8 text as it is, but U+007F-U+009F escaped (see C1_AS_JSON)."""
    text = _ENCODERS[indented](value)
    if not text.isascii() or "\x7f" in text:  # isascii() is a flag lookup: most records skip translate()
        text = text.translate(C1_AS_JSON)
    return text


def check_event_format(format: str) -> None:
    check_format(format, EVENT_FORMATS)


def write_events(events: Iterable[Event], out: TextIO, format: str, classifier: Classifier | None = None) -> int:
    """Stream events as JSON lines or CSV rows with the public field names (the CSV header is
    event_csv_header's, written once by the caller however many parts are written); returns the count."""
    check_event_format(format)
    written = 0
    if format == "jsonl":
        write = out.write
        for event in events:
            write(json_text(classified_record(event, classifier)) + "\n")
            written += 1
        return written
    fields = event_fields(classifier is not None)
    writer = csv.writer(out, lineterminator="\n")
    for event in events:
        record = classified_record(event, classifier)
        for name in LOG_TEXT_FIELDS:
            if record[name]:
                record[name] = neutralise_cell(record[name])
        writer.writerow([record[name] for name in fields])
        written += 1
    return written


# What check-patterns shows of an event beside its kind, codes and client: every other field it read.
SHOWN_FIELDS = ("client_host", "relay_host", "relay_ip", "sender", "recipient", "queue_id", "command",
                "sasl_method", "sasl_username", "direction", "code_inferred", "reply_text")


def check_line_text(line: str, catalogue: Catalogue, mta: str | None = None) -> list[str]:
    """What check-patterns prints for one line: the pattern, then each event's fields and entry."""
    inspection = inspect_line(line, mta=mta)
    where = f"{inspection.mta}/{inspection.service}" if inspection.mta else "-"
    result = [f"  {inspection.outcome.value}  {where}  pattern={inspection.pattern_id or '-'}"]
    classifier = Classifier(catalogue)
    for event in inspection.events:
        found = classifier(event)
        result.append(f"    kind={event.kind.value if event.kind else '-'} reply_code={event.reply_code or '-'} "
                      f"enhanced_code={event.enhanced_code or '-'} client_ip={event.client_ip or '-'} "
                      f"entry={found.entry_id or '-'} matched_by={found.matched_by or '-'}"
                      + (f" detail={sanitize(found.detail)}" if found.detail else ""))
        extracted = [(name, getattr(event, name)) for name in SHOWN_FIELDS]
        shown = [f"{name}={sanitize(str(getattr(value, 'value', value)))}" for name, value in extracted
                 if value not in (None, "", False)]
        if shown:
            result.append("      " + " ".join(shown))
    return result


def check_lines(sources: list[Source], catalogue: Catalogue, mta: str | None = None,
                only_unmatched: bool = False) -> Iterator[str]:
    """check-patterns output for every line of the sources."""
    problems: list[str] = []
    for source in sources:
        for line_no, line in enumerate(read_lines(source, problems), start=1):
            report = check_line_text(line, catalogue, mta)
            if only_unmatched and "unrecognised" not in report[0]:
                continue
            yield f"{source.name}:{line_no}: {sanitize(line)}"
            yield from report
    for problem in problems:
        yield f"warning: {problem}"


def check_shapes(sources: list[Source], mta: str | None = None) -> Iterator[str]:
    """check-patterns --unmatched --shapes: the lines no pattern knows, grouped by shape, most frequent
    first, with a count and one example each. The inputs are read as every command reads them (the block
    engine, compressed files, the same outcomes), so that a whole log takes seconds, not a parse a line."""
    from .reader import ReadOptions, read_events
    from .shapes import ShapeCounter
    counter = ShapeCounter(mta)
    stats = ParseStats()
    for _event in read_events(sources, ReadOptions(mta=mta, unrecognised=counter.add), stats):
        pass
    shapes, dropped = counter.result()
    yield f"{counter.lines} unrecognised lines in {len(shapes)} shapes" + (
        f" ({dropped} more lines in shapes past the first {len(shapes)})" if dropped else "")
    for shape in shapes:
        yield f"{shape.count:>8}  {sanitize(shape.text)}"
        yield f"{'':>8}  e.g. {shape.where}: {sanitize(shape.example)}"
    for problem in stats.problems:
        yield f"warning: {problem}"


CONTROL_RE = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f{BIDI_CONTROLS}]")


def sanitize(text: str) -> str:
    """Text from a log made safe for a terminal: control characters shown as \\xNN, never executed, and
    bidirectional controls as \\uNNNN, so that no log text can reorder what is printed after it."""
    return CONTROL_RE.sub(_escaped, text)


def _escaped(found: re.Match) -> str:
    code = ord(found.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def format_stats(stats: ParseStats) -> str:
    """Line counts per MTA: read, with events, recognised without event, unrecognised, skipped."""
    columns = [o.value for o in LineOutcome]
    lines = [f"lines read: {stats.lines_read}, events: {stats.events}"
             + (f", lines with undecodable bytes: {stats.undecodable_lines}" if stats.undecodable_lines else "")
             + (f", events outside --since/--until: {stats.events_outside_range}"
                if stats.events_outside_range else "")
             + (f", events without a usable time (in no daily row or spike window): {stats.events_without_time}"
                if stats.events_without_time else "")]
    width = max([len(m) for m in stats.by_mta] + [8])
    lines.append(f"{'mta':<{width}} " + " ".join(f"{c:>13}" for c in columns))
    for mta, counts in sorted(stats.by_mta.items()):
        lines.append(f"{mta:<{width}} " + " ".join(f"{counts.get(c, 0):>13}" for c in columns))
    return "\n".join(lines)


@contextlib.contextmanager
def text_target(target: str | Path | OutputFile) -> Iterator[TextIO]:
    """Where an output goes: stdout for '-', else a file that appears only once written whole (a prepared
    OutputFile is written into and committed by whoever prepared it)."""
    if isinstance(target, OutputFile):
        with target.writing() as handle:
            yield handle
    elif str(target) == "-":
        yield sys.stdout
    else:
        with atomic_text_file(target) as handle:
            yield handle


def write_csv(frame: pd.DataFrame, target: str | Path | OutputFile) -> None:
    """A report as UTF-8 CSV (header row, RFC 4180 quoting, CRLF); '-' is stdout, a file is written whole."""
    with text_target(target) as handle:
        frame.to_csv(handle, index=False, lineterminator="\r\n")


def write_rows_csv(columns: list[str], rows: Iterable[tuple], target: str | Path | OutputFile) -> None:
    """Rows as write_csv writes their DataFrame, byte for byte (tests compare), without importing pandas:
    pandas formats with the csv module too, and a report holds only text, integers and booleans.
    """
    with text_target(target) as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(columns)
        writer.writerows(rows)


def read_existing_rows(path: str | Path, columns: list[str]) -> list[list[str]]:
    """The rows of a report written earlier (for --append), as text; refused unless every row is one of
    this report's, so that a damaged file is neither kept as it is nor shifted into the wrong columns."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise MaillogError(f"{path}: cannot read the existing report to append to: {exc}") from None
    if not rows:
        return []
    if rows[0] != columns:
        raise MaillogError(f"{path}: its columns are not those of this report; write to a new file")
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(columns):
            raise MaillogError(f"{path}: row {number} has {len(row)} fields where the report has {len(columns)}; "
                               f"the file is damaged and left as it is: repair it or write to a new file")
    return rows[1:]


def report_path(pattern: str, since: datetime | None, zone) -> str:
    """-o with strftime fields (daily-%Y-%m-%d.csv) filled from --since, or from today."""
    if "%" not in pattern or pattern == "-":
        return pattern
    moment = since or datetime.now(zone)
    return moment.strftime(pattern)


class Progress:
    """A one-line progress report on stderr: bytes read of the total, lines per second.

    It is called with running totals over all the inputs (parallel.run adds them up).
    """

    def __init__(self, sources: list[Source], stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.total = sum(source.size() for source in sources)
        self.started = time.monotonic()
        self.shown = 0.0

    def __call__(self, done: int, lines: int) -> None:
        now = time.monotonic()
        if now - self.shown < 0.25:
            return
        self.shown = now
        rate = lines / max(now - self.started, 1e-6)
        share = f" ({done / self.total:.0%})" if self.total and done <= self.total else ""
        self.stream.write(f"\rmaillog: {done / 2 ** 20:,.1f} of {self.total / 2 ** 20:,.1f} MiB read{share}, "
                          f"{rate:,.0f} lines/s ")
        self.stream.flush()

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def write_text(text: str, target: str | Path | OutputFile) -> None:
    """A whole text file ('-' for stdout), written atomically."""
    with text_target(target) as handle:
        handle.write(text)
