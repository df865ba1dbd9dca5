"""The fast path: scan blocks of lines with vectorised kernels and hand only candidate lines to Python.

Most lines of a mail log carry no event. A block of a few MiB is cut at line ends, turned into an Arrow
binary array without copying, and one RE2 search (pyarrow.compute) marks the lines that hold any
pattern keyword or a reply code: only those are decoded and parsed line by line, exactly as the line
path parses every line. The quiet lines are counted per MTA by three more RE2 searches on their headers.
Both paths give the same events and the same counts (tests compare them); this one needs pyarrow and
numpy, and reader.py falls back to the line path without them.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

# numpy and pyarrow are imported on first use (available()): commands that read no log (explain, the
# pattern checks) start without them, and the line path needs neither.
np = pa = pc = None

from .parsers import PARSERS, POSTFIX_DAEMONS
from .parsers.engine import CODE_HINT_RE
from .sources import LineCutter, bytes_for_chars

BLOCK_BYTES = 4 << 20
# The same headers split_header() accepts, by MTA, for lines that reach no parser.
_STAMP = r"(?:[A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d(?:\.\d{1,9})? |\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S{0,20} )"
_DAEMONS = "|".join(sorted(POSTFIX_DAEMONS))
_PROGRAMS = {
    "postfix": rf"(?i:postfix[^\s\[\]:]*/[^\s\[\]:]*|[^\s\[\]:]*/(?:{_DAEMONS}))",
    "sendmail": r"(?i:sendmail|sm-[^\s\[\]:]*)",
    "exim": r"(?i:exim[^\s\[\]:]*)",
}
ANY_PROGRAM = r"[^\s\[\]:]{1,128}"


def _header(program: str) -> str:
    """A syslog header naming `program`: RFC 3164 or 3339 (optionally after <PRI>), or RFC 5424."""
    return (rf"^(?:(?:<\d{{1,3}}>)?{_STAMP}\S{{1,255}} {program}(?:\[\d{{1,10}}\])?: "
            rf"|<\d{{1,3}}>1 \S{{1,64}} \S{{1,255}} {program} \S{{1,128}} \S{{1,32}} (?:-|\[))")


QUIET_HEADERS = {mta: _header(program) for mta, program in _PROGRAMS.items()}
QUIET_HEADERS["exim"] = QUIET_HEADERS["exim"] + r"|^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
# With --mta, every line with a header goes to that MTA, whatever its program.
ANY_HEADER = _header(ANY_PROGRAM) + r"|^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"


def available() -> bool:
    global np, pa, pc
    if pc is None:
        try:
            import numpy
            import pyarrow
            import pyarrow.compute
        except ImportError:
            return False
        np, pa, pc = numpy, pyarrow, pyarrow.compute
    return True


@dataclass(slots=True)
class Block:
    """One block of lines: candidates to parse in Python, and the counts of the rest."""

    lines: int                         # lines in the block
    size: int                          # bytes in the block
    candidates: list[tuple[int, str]]  # (line number, decoded line) to parse one by one
    quiet: dict[str, int]              # mta -> quiet lines with that MTA's header; "" -> foreign


def _prefilter_pattern(forced: str | None) -> str:
    literals: set[str] = set()
    for name, parser in PARSERS.items():
        if forced is None or forced == name:
            for pattern in parser.patterns:
                literals.update(pattern.contains)
    # RE2 syntax: escaped literals, and the reply-code hint the line path also uses.
    return "|".join(re.escape(literal) for literal in sorted(literals)) + "|" + CODE_HINT_RE.pattern


def scan(stream: BinaryIO, max_line: int, forced: str | None = None, first_line_no: int = 1,
         limit: int | None = None) -> Iterator[Block]:
    """Blocks of the stream (at most `limit` bytes of it), cut at line ends."""
    if not available():
        raise ImportError("the block engine needs numpy and pyarrow: pip install numpy pyarrow")
    prefilter = _prefilter_pattern(forced)
    cutter = LineCutter(bytes_for_chars(max_line))
    line_no = first_line_no
    remaining = limit
    while True:
        size = BLOCK_BYTES if remaining is None else min(BLOCK_BYTES, remaining)
        chunk = stream.read(size) if size > 0 else b""
        if remaining is not None:
            remaining -= len(chunk)
        data = cutter.feed(chunk) if chunk else cutter.finish()
        if data:
            block = _block(data, line_no, prefilter, max_line, forced)
            line_no += block.lines
            yield block
        if not chunk:
            return


def _bools(mask) -> "np.ndarray":
    """A pyarrow boolean array without nulls as a numpy one, unpacked from its bitmap (to_numpy imports pandas)."""
    bits = np.frombuffer(mask.buffers()[1], dtype=np.uint8)
    return np.unpackbits(bits, bitorder="little")[mask.offset:mask.offset + len(mask)].view(bool)


def _arrow_bools(mask: "np.ndarray"):
    """A numpy boolean array as a pyarrow one, through a packed bitmap (pa.array imports pandas)."""
    packed = np.packbits(mask, bitorder="little")
    return pa.BooleanArray.from_buffers(pa.bool_(), len(mask), [None, pa.py_buffer(packed)])


def arrow_lines(data: bytes):
    """(bytes as numpy, line offsets, the lines as an Arrow binary array) of whole lines, without copying."""
    buffer = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buffer == 10)
    offsets = np.empty(len(ends) + 1, dtype=np.int64)
    offsets[0] = 0
    offsets[1:] = ends + 1
    lines = pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(ends),
                                             [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    return buffer, offsets, lines


def _block(data: bytes, line_no: int, prefilter: str, max_line: int, forced: str | None) -> Block:
    buffer, offsets, lines = arrow_lines(data)
    count = len(lines)
    # Lengths in bytes include the newline; the line path measures characters, so compare generously
    # here and exactly on the decoded candidates. The masks are numpy arrays: a Python number handed to
    # pyarrow.compute makes pyarrow import pandas, which cost 0.2 s of every run (and of every process).
    too_long = np.diff(offsets) > max_line + 1
    try:
        data.decode("utf-8")
        clean = True
    except UnicodeDecodeError:
        clean = False
    has_nul = b"\x00" in data
    if not clean or has_nul:
        # Rare: decide line by line which lines are undecodable, and parse them all on the way.
        candidate_mask = np.ones(count, dtype=bool)
    else:
        candidate_mask = _bools(pc.match_substring_regex(lines, prefilter)) | too_long
    indices = np.flatnonzero(candidate_mask)
    starts = offsets[indices]
    stops = offsets[indices + 1] - 1
    # A CRLF line loses its CR, as in the line path.
    stops -= (stops > starts) & (buffer[stops - 1] == 13)
    decode = bytes.decode
    candidates = [(line_no + index, decode(data[start:stop], "utf-8", "replace"))
                  for index, start, stop in zip(indices.tolist(), starts.tolist(), stops.tolist())]
    quiet: dict[str, int] = {}
    quiet_total = count - len(indices)
    if quiet_total:
        # Each header is searched only among the quiet lines no earlier header claimed, in the order
        # identify_program() decides between MTAs, so that a line is counted once and as the line path would.
        remaining = pc.filter(lines, _arrow_bools(~candidate_mask))
        headers = QUIET_HEADERS.items() if forced is None else [(forced, ANY_HEADER)]
        for name, header in headers:
            if not len(remaining):
                break
            claimed = pc.match_substring_regex(remaining, header)
            hits = pc.sum(claimed).as_py() or 0
            if hits:
                quiet[name] = hits
                remaining = pc.filter(remaining, pc.invert(claimed))
        quiet[""] = len(remaining)
    return Block(count, len(data), candidates, quiet)
