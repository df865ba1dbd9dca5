"""Inputs as a postmaster has them: files, globs, directories, rotated sets, compressed files, stdin.

Compression is recognised by content (gzip, bzip2, xz), not by name, and a compressed file is read as
far as it decompresses, every member of it; what was cut short, corrupt or ignored is named as a problem.
Rotated sets are read oldest first (mail.log.3.gz, mail.log.2.gz, mail.log.1, mail.log) so year
inference and time order hold.
journalctl -o json input is turned into syslog-shaped lines.
"""
from __future__ import annotations

import contextlib
import glob
import io
import json
import lzma
import os
import re
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .decompress import Decompressed
from .errors import InputError

STDIN = "-"
MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd"}
# mail.log.1, mail.log.2.gz, maillog-20261128, mainlog.1.bz2: the rotation suffix and its rank.
ROTATION_RE = re.compile(r"^(?P<base>.+?)(?:[.-](?P<rank>\d{1,8}))?(?P<ext>\.(?:gz|bz2|xz|zst))?$")
# What reading an input can still raise: an I/O error, or a stream cut short (fsspec, stdin).
READ_ERRORS = (EOFError, OSError, zlib.error, lzma.LZMAError)
# Lines longer than this are counted and skipped: no real MTA writes them, attackers do.
MAX_LINE_CHARS = 65536
# How much of a raw line is read before the rest is skipped unread. More than the limit, because the limit
# applies to the line as parsed: a journald JSON record holds its message up to four times over (bytes
# that are not UTF-8 become a list of numbers), beside its other fields.
RAW_LINE_CHARS = 6 * MAX_LINE_CHARS
LINE_READ_LIMIT = RAW_LINE_CHARS + 2


def bytes_for_chars(chars: int) -> int:
    """Bytes that surely hold more than `chars` characters, in any UTF-8."""
    return 4 * chars + 8


RAW_LINE_BYTES = bytes_for_chars(RAW_LINE_CHARS)


class LineCutter:
    """Cuts a byte stream, a chunk at a time, into whole lines ending in LF.

    At most `longest` bytes of a line not yet ended are held: the start of a longer line is handed on
    as a line of its own (it is counted as too long) and the rest is skipped up to its end, so that a
    file without line ends never sits in memory. The block engine and `watch` read through this.
    """

    __slots__ = ("longest", "carry", "skipping")

    def __init__(self, longest: int):
        self.longest = longest
        self.carry = b""       # the start of a line not yet ended
        self.skipping = False  # inside a line too long to keep, whose start was handed on

    def feed(self, chunk: bytes) -> bytes:
        """The whole lines `chunk` completes, each ending in LF (b"" when it completes none)."""
        if self.skipping:
            end = chunk.find(b"\n")
            if end < 0:
                return b""
            self.skipping, chunk = False, chunk[end + 1:]
        data = self.carry + chunk if self.carry else chunk
        cut = data.rfind(b"\n")
        if cut >= 0:
            self.carry = data[cut + 1:]
            return data[:cut + 1]
        if len(data) < self.longest:
            self.carry = data
            return b""
        self.carry, self.skipping = b"", True
        return data[:self.longest] + b"\n"

    def finish(self) -> bytes:
        """At the end of the input: its last line if it had no LF, given one."""
        rest, self.carry, self.skipping = self.carry, b"", False
        return rest + b"\n" if rest else b""


@dataclass(frozen=True, slots=True)
class Source:
    """One input to read: a path, '-' for standard input, or a byte range of a plain file (for --jobs)."""

    path: str
    start: int = 0                 # first byte of the range, at the start of a line
    end: int | None = None         # byte after the range, just after a newline; None: to the end
    first_line_no: int = 1         # line number of the range's first line in the whole file

    @property
    def name(self) -> str:
        return "<stdin>" if self.path == STDIN else self.path

    @property
    def streamed(self) -> bool:
        """True for stdin and URLs: no local file to stat, seek or look at twice."""
        return self.path == STDIN or "://" in self.path

    def modified(self) -> datetime:
        """When the input was last written: the reference for year-less timestamps."""
        if self.streamed:
            return datetime.now(timezone.utc)
        return datetime.fromtimestamp(os.stat(self.path).st_mtime, timezone.utc)

    def size(self) -> int:
        if self.end is not None:
            return self.end - self.start
        if self.streamed:
            return 0
        try:
            return os.stat(self.path).st_size
        except OSError:
            return 0


def _rotation_key(path: str) -> tuple:
    found = ROTATION_RE.match(os.path.basename(path))
    base, rank = found.group("base"), found.group("rank")
    if rank is None:
        order = (0, 0)
    elif len(rank) >= 8:      # dateext: maillog-20261128, oldest date first
        order = (1, int(rank))
    else:                     # numbered: higher number is older
        order = (2, -int(rank))
    # the live file (no suffix) is newest; dated before numbered before live within a base name
    live_last = 1 if rank is None else 0
    return (os.path.dirname(path), base, live_last, order[0] == 2, order[1])


def expand_inputs(inputs: list[str]) -> list[Source]:
    """Files, globs and directories -> Sources in reading order; errors name the bad input."""
    paths: list[str] = []
    for item in inputs:
        if item == STDIN:
            paths.append(STDIN)
            continue
        if os.path.isdir(item):
            found = sorted(str(p) for p in Path(item).rglob("*")
                           if p.is_file() and not any(part.startswith(".") for part in p.relative_to(item).parts))
            if not found:
                raise InputError(f"{item}: directory holds no log files")
            paths.extend(sorted(found, key=_rotation_key))
            continue
        if "://" in item:  # a URL for fsspec: checked when it is opened
            paths.append(item)
            continue
        if not os.path.exists(item) and glob.has_magic(item):
            matched = [p for p in glob.glob(item) if os.path.isfile(p)]
            if not matched:
                raise InputError(f"{item}: no file matches this pattern")
            paths.extend(sorted(matched, key=_rotation_key))
            continue
        if not os.path.exists(item):
            raise InputError(f"{item}: no such file")
        if not os.path.isfile(item):
            raise InputError(f"{item}: not a regular file")
        if not os.access(item, os.R_OK):
            raise InputError(f"{item}: permission denied")
        paths.append(item)
    seen: set[str] = set()
    unique = []
    for path in paths:
        key = path if path == STDIN else os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return [Source(p) for p in unique]


def _open_binary(source: Source, problems: list[str]) -> io.BufferedIOBase:
    if source.path == STDIN:
        raw = sys.stdin.buffer
    elif "://" in source.path:
        raw = _open_url(source.path)
    else:
        try:
            raw = open(source.path, "rb")
            if source.start:
                raw.seek(source.start)
        except OSError as exc:
            raise InputError(f"{source.path}: cannot open: {exc.strerror or exc}") from None
        if source.end is not None:
            raw = _UpTo(raw, source.end - source.start)
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)
    kind = compression(buffered.peek(6))
    if kind == "zstd":
        buffered.close()
        raise InputError(f"{source.name}: zstd-compressed input is not supported; "
                         f"decompress it first (zstdcat {source.name} | maillog ... -)")
    if kind is not None:
        return io.BufferedReader(Decompressed(buffered, kind, source.name, problems), Decompressed.OUTPUT_PIECE)
    return buffered


class _UpTo(io.RawIOBase):
    """A file read up to a byte offset: where a range ends, or where the file ended when the run was
    planned (lines appended since are for the next run)."""

    def __init__(self, raw: io.RawIOBase, remaining: int):
        super().__init__()
        self.raw, self.remaining = raw, remaining

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.remaining <= 0:
            return 0
        count = self.raw.readinto(memoryview(buffer)[:self.remaining]) or 0
        self.remaining -= count
        return count

    def close(self) -> None:
        self.raw.close()
        super().close()


def compression(head: bytes) -> str | None:
    """The compression ('gzip', 'bzip2', 'xz', 'zstd') whose magic bytes start `head`, or None."""
    return next((kind for magic, kind in MAGIC.items() if head.startswith(magic)), None)


def _open_url(url: str):
    """s3://, gs://, file://... through fsspec, where it and the filesystem's package are installed."""
    try:
        import fsspec
    except ImportError:
        raise InputError(f"{url}: reading URLs needs fsspec (pip install 'maillog[dask]')") from None
    try:
        return fsspec.open(url, "rb").open()
    except (OSError, ValueError, ImportError) as exc:
        raise InputError(f"{url}: cannot open: {exc}") from None


SURROGATE_RE = re.compile("[\ud800-\udfff]")


def is_journal_record(text: str) -> bool:
    """True for a line of journalctl -o json (cheap: it decides nothing, journal_line does)."""
    return text.startswith("{") and '"MESSAGE"' in text


def journal_line(text: str) -> str | None:
    """A journalctl -o json record as a syslog-shaped line (RFC 3339 UTC timestamp)."""
    try:
        record = json.loads(text)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    message = record.get("MESSAGE")
    if isinstance(message, list):  # journald stores non-UTF-8 messages as byte arrays
        message = bytes(b & 0xFF for b in message if isinstance(b, int)).decode("utf-8", "replace")
    if not isinstance(message, str):
        return None
    try:
        stamp = datetime.fromtimestamp(int(record.get("__REALTIME_TIMESTAMP", 0)) / 1e6, timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
    ident = str(record.get("SYSLOG_IDENTIFIER") or record.get("_COMM") or "unknown")
    pid = record.get("SYSLOG_PID") or record.get("_PID")
    host = str(record.get("_HOSTNAME") or "localhost")
    program = f"{ident}[{pid}]" if pid else ident
    line = f"{stamp.isoformat(timespec='microseconds')} {host} {program}: {message}"
    if not line.isascii():
        # JSON may escape a lone surrogate ("\ud800"), which no UTF-8 output can hold: it is an
        # undecodable character like any other.
        line = SURROGATE_RE.sub("\ufffd", line)
    return line


def read_lines(source: Source, problems: list[str]) -> Iterator[str]:
    """The text lines of one input, without line endings; a read problem is appended to `problems`.

    Undecodable bytes become U+FFFD; a truncated or corrupt compressed file yields what could be read.
    """
    binary = _open_binary(source, problems)
    # Lines end at LF (a CR before it is dropped), as in the block engine: both split a file the same way.
    text = io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline="\n")
    readline = text.readline
    journal = None
    try:
        while line := readline(LINE_READ_LIMIT):
            if line.endswith("\n"):
                line = line[:-2] if line.endswith("\r\n") else line[:-1]
            elif len(line) == LINE_READ_LIMIT:
                # Longer than any line worth parsing: keep a start that is counted as too long, skip the
                # rest a piece at a time, so that a file without line ends cannot fill the memory.
                while (rest := readline(LINE_READ_LIMIT)) and not rest.endswith("\n"):
                    pass
            elif line.endswith("\r"):
                line = line[:-1]
            if journal is None and line.strip():
                journal = is_journal_record(line)
            if journal:
                converted = journal_line(line)
                yield converted if converted is not None else line
            else:
                yield line
    except READ_ERRORS as exc:
        problems.append(cut_short(source.name, exc))
    finally:
        if source.path != STDIN:
            text.close()


def cut_short(name: str, exc: BaseException) -> str:
    """The problem noted when a compressed or streamed input ends in the middle."""
    return f"{name}: input cut short or corrupt ({str(exc) or type(exc).__name__}); the lines before were used"


class _SafeReader:
    """A binary stream whose read() ends the input, noting the problem, when reading fails."""

    PIECE = 1 << 16  # a read that fails loses what it had gathered: keep reads small

    def __init__(self, stream: io.BufferedIOBase, name: str, problems: list[str]):
        self.stream, self.name, self.problems = stream, name, problems
        self.ended = False

    def read(self, size: int) -> bytes:
        pieces = []
        wanted = size
        while wanted > 0 and not self.ended:
            try:
                piece = self.stream.read(min(self.PIECE, wanted))
            except READ_ERRORS as exc:
                self.problems.append(cut_short(self.name, exc))
                self.ended = True
                break
            if not piece:
                self.ended = True
                break
            pieces.append(piece)
            wanted -= len(piece)
        return b"".join(pieces)


@contextlib.contextmanager
def open_binary(source: Source, problems: list[str]) -> Iterator[_SafeReader]:
    """The decompressed bytes of one input, for the block reader."""
    stream = _open_binary(source, problems)
    try:
        yield _SafeReader(stream, source.name, problems)
    finally:
        if source.path != STDIN:
            stream.close()


JOURNAL_SNIFF_BYTES = 65536


def looks_like_journal(source: Source) -> bool:
    """True for journalctl -o json output, and for stdin (which cannot be looked at twice)."""
    if source.path == STDIN:
        return True
    stream = _open_binary(source, [])  # the reading proper names the problems of the input
    try:
        head = stream.read(JOURNAL_SNIFF_BYTES)
    except READ_ERRORS:
        return False
    finally:
        stream.close()
    return is_journal_head(head)


def is_journal_head(head: bytes) -> bool:
    """True when the first JOURNAL_SNIFF_BYTES of an input (decompressed) start a journalctl -o json record."""
    return is_journal_record(head.lstrip().decode("utf-8", "replace"))
