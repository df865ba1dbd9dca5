"""The fast path: scan blocks of lines with vectorised kernels and hand only candidate lines to Python.

Most lines of a mail log carry no event. A block of a few MiB is cut at line ends, turned into an Arrow
binary array without copying, and one RE2 search (pyarrow.compute) marks the lines that hold any
pattern keyword or a reply code: only those are decoded and parsed line by line, exactly as the line
path parses every line. The quiet lines are counted per MTA by a few more RE2 searches on their headers,
where the header is one the line path surely reads the same way; any other quiet line is parsed too.
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

from .parsers import PARSERS, POSTFIX_DAEMONS, exim
from .patternfiles import GROUP_NAME_RE
from .parsers.engine import CODE_HINT_RE
from .sources import LineCutter, bytes_for_chars

BLOCK_BYTES = 4 << 20
# The columnar engine pays for each of its few hundred column operations per block, not per line, so it
# reads larger blocks. On 1M lines (the `analysis` fold of one process, 2026-12-08, a noisy machine) 8 MiB
# blocks took 9.8 / 12.3 / 11.8 s for Postfix / Exim / Sendmail at 275-342 MB, and 32 MiB blocks
# 5.4 / 11.5 / 8.2 s at 459-579 MB, against 5.8 / 13.3-16.1 / 13.3-14.2 s at 133-155 MB line by line.
FRAME_BLOCK_FACTOR = 8


def printable_except(excluded: str) -> str:
    """An RE2 class of the printable ASCII characters but space and `excluded`."""
    allowed = [code for code in range(0x21, 0x7F) if chr(code) not in excluded]
    ranges: list[list[int]] = []
    for code in allowed:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "[" + "".join(_escaped(low) + ("-" + _escaped(high) if high > low else "") for low, high in ranges) + "]"


def _escaped(code: int) -> str:
    return "\\" + chr(code) if chr(code) in "\\[]^-" else chr(code)


# Quiet lines are counted in bulk only when their header has a shape split_header() surely reads as
# these searches do: printable ASCII host and program of bounded length, a pid of digits, ": " after the
# tag. Any other header (a tab, "[pid" without "]", an empty host, a 200-character program, "<PRI>" alone)
# is parsed in Python like a candidate, so that both engines give every line the same outcome.
_PROGRAM_CHAR = printable_except("[]:")   # what split_header() allows in a program name
_HOST = printable_except("") + "{1,255}"
_PID = r"(?:\[\d{1,10}\])?"
_MESSAGE_ID = r"(?:\[ID \d{1,10} [a-z0-9]{1,16}\.[a-z]{1,10}\] )?"  # Solaris syslogd's tag (parsers.MESSAGE_ID_RE)
_RFC3164 = r"[A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d(?:\.\d{1,9})? "
_RFC3339 = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[!-~]{0,20} "
# RFC 5424 with a real timestamp and no structured data: its shortest header still has the 20
# characters below which split_header() sees no header.
_RFC5424 = r"<\d{1,3}>1 \d{4}-\d\d-\d\dT[!-~]{8,53} " + _HOST + " PROGRAM [!-~]{1,128} [!-~]{1,32} - "
_EXIM_OWN = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{3})?(?: [+-]\d{4})?(?: \[\d{1,10}\])? "
_DAEMONS = "|".join(sorted(POSTFIX_DAEMONS))


def _mta_programs(longest: int) -> dict[str, str]:
    """Program names identify_program() gives to each MTA, at most `longest` characters long."""
    char = _PROGRAM_CHAR
    half = (longest - len("postfix/")) // 2
    return {
        "postfix": rf"(?i:postfix){char}{{0,{half}}}/{char}{{0,{half}}}"
                   rf"|{char}{{0,{longest - 16}}}/(?i:{_DAEMONS})",
        "sendmail": rf"(?i:sendmail)|(?i:sm-){char}{{0,{longest - 3}}}",
        "exim": rf"(?i:exim){char}{{0,{longest - 4}}}",
    }


def _header(program_in_tag: str, program_in_rfc5424: str) -> str:
    """A syslog header naming such a program: RFC 3164 or 3339 (optionally after <PRI>), or RFC 5424."""
    return (rf"^(?:(?:<\d{{1,3}}>)?(?:{_RFC3164}|{_RFC3339}){_HOST} (?:{program_in_tag}){_PID}: {_MESSAGE_ID}"
            "|" + _RFC5424.replace("PROGRAM", f"(?:{program_in_rfc5424})") + ")")


_IN_TAG, _IN_RFC5424 = _mta_programs(128), _mta_programs(48)
QUIET_HEADERS = {mta: _header(_IN_TAG[mta], _IN_RFC5424[mta]) for mta in _IN_TAG}
QUIET_HEADERS["exim"] += "|" + _EXIM_OWN
# With --mta, every line with a header goes to that MTA, whatever its program (RFC 5424 "-" is none).
ANY_HEADER = (_header(f"{_PROGRAM_CHAR}{{1,128}}", f"{printable_except('[]:-')}|{_PROGRAM_CHAR}{{2,48}}")
              + "|" + _EXIM_OWN)


def _foreign_programs(longest: int) -> str:
    """Program names identify_program() gives to no MTA: without "/", and not starting "sm-", "exim" or
    "sendmail" (an "s" or "e" is followed by a letter none of those has next)."""
    rest = printable_except("[]:/")
    return (f"{printable_except('[]:/sSeE')}{rest}{{0,{longest - 1}}}"
            f"|[sS](?:{printable_except('[]:/mMeE')}{rest}{{0,{longest - 2}}})?"
            f"|[eE](?:{printable_except('[]:/xX')}{rest}{{0,{longest - 2}}})?")


# The quiet lines no MTA search claimed and whose program is surely none of theirs: foreign.
FOREIGN_HEADER = _header(_foreign_programs(128), _foreign_programs(48))


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


def claimed_in_bulk(pattern) -> bool:
    """A pattern of a line known to carry no event that applies to every service: the block engine tests
    these on whole blocks at once, and only lines none of them claims are parsed one by one."""
    return not pattern.event and not pattern.problem and pattern.services is None


def _prefilter_pattern(forced: str | None) -> str:
    literals: set[str] = set()
    for name, parser in PARSERS.items():
        if forced is None or forced == name:
            for pattern in parser.patterns:
                if not claimed_in_bulk(pattern):
                    literals.update(pattern.contains)
    # RE2 syntax: escaped literals, and the reply-code hint the line path also uses.
    return "|".join(re.escape(literal) for literal in sorted(literals)) + "|" + CODE_HINT_RE.pattern


# What Exim's prepare() takes off a message before the patterns see it, from the same pieces: the first
# part marker of a long entry, a [pid], and Exim's own time stamp in a syslog copy.
_EXIM_MESSAGE_PREFIX = (rf"(?:\[1[\\/]\d{{1,5}}\] )?(?:{exim.PID_RE.pattern})?(?:{exim.OWN_STAMP_RE.pattern})?")
# An unescaped "$": the lines of a block keep their line end, which RE2's "$" does not pass over.
_END_ANCHOR = re.compile(r"(?<!\\)\$")


def _quiet_messages(mta: str) -> str | None:
    """One RE2 search for the messages an MTA's bulk-claimed patterns know (their regexes side by side),
    or None when it has none."""
    alternatives = [_END_ANCHOR.sub(r"\\r?\\n?$", GROUP_NAME_RE.sub("(?:", pattern.regex.pattern[1:]))
                    for pattern in PARSERS[mta].patterns if claimed_in_bulk(pattern)]
    if not alternatives:
        return None
    prefix = _EXIM_MESSAGE_PREFIX if mta == "exim" else ""
    return prefix + "(?:" + "|".join(f"(?:{alternative})" for alternative in alternatives) + ")"


_QUIET_SEARCHES: dict[tuple[str | None, str], str | None] = {}


def _quiet_search(forced: str | None, mta: str, header: str) -> str | None:
    """The header of an MTA's lines followed by a message one of its bulk-claimed patterns knows."""
    key = (forced, mta)
    if key not in _QUIET_SEARCHES:
        messages = _quiet_messages(mta)
        _QUIET_SEARCHES[key] = None if messages is None else f"(?:{header}){messages}"
    return _QUIET_SEARCHES[key]


def scan(stream: BinaryIO, max_line: int, forced: str | None = None, first_line_no: int = 1,
         limit: int | None = None, factor: int = 1) -> Iterator[Block]:
    """Blocks of the stream (at most `limit` bytes of it), cut at line ends, of `factor` x BLOCK_BYTES."""
    if not available():
        raise ImportError("the block engine needs numpy and pyarrow: pip install numpy pyarrow")
    prefilter = _prefilter_pattern(forced)
    cutter = LineCutter(bytes_for_chars(max_line))
    line_no = first_line_no
    remaining = limit
    while True:
        size = BLOCK_BYTES * factor if remaining is None else min(BLOCK_BYTES * factor, remaining)
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
    # The line path counts a line holding U+FFFD as undecodable, whether it was decoded so or written so.
    if not clean or b"\x00" in data or "\ufffd".encode() in data:
        # Rare: decide line by line which lines are undecodable, and parse them all on the way.
        candidate_mask = np.ones(count, dtype=bool)
    else:
        candidate_mask = _bools(pc.match_substring_regex(lines, prefilter)) | too_long
    indices = np.flatnonzero(candidate_mask)
    quiet: dict[str, int] = {}
    if len(indices) < count:
        undecided = _count_quiet(lines, candidate_mask, forced, quiet, _non_ascii_lines(data, buffer, offsets))
        if len(undecided):
            indices = np.union1d(indices, undecided)
    starts = offsets[indices]
    stops = offsets[indices + 1] - 1
    # A CRLF line loses its CR, as in the line path.
    stops -= (stops > starts) & (buffer[stops - 1] == 13)
    decode = bytes.decode
    candidates = [(line_no + index, decode(data[start:stop], "utf-8", "replace"))
                  for index, start, stop in zip(indices.tolist(), starts.tolist(), stops.tolist())]
    return Block(count, len(data), candidates, quiet)


def _non_ascii_lines(data: bytes, buffer: "np.ndarray", offsets: "np.ndarray") -> "np.ndarray | None":
    """A mask of the lines holding a byte over 127, or None when the block has none (bytes.isascii is one
    pass in C; an RE2 search for it cost as much as the header search)."""
    if data.isascii():
        return None
    mask = np.zeros(len(offsets) - 1, dtype=bool)
    mask[np.searchsorted(offsets, np.flatnonzero(buffer > 127), side="right") - 1] = True
    return mask


def _count_quiet(lines, candidate_mask: "np.ndarray", forced: str | None, quiet: dict[str, int],
                 non_ascii: "np.ndarray | None") -> "np.ndarray":
    """Count the quiet lines whose header decides their outcome into `quiet`; return the indices of the
    others, to be parsed like candidates."""
    # Each header is searched only among the quiet lines no earlier header claimed, in the order
    # identify_program() decides between MTAs, so that a line is counted once and as the line path would.
    # A line no pattern knows is unknown, whatever its header: a line with an MTA's header is counted in
    # bulk only when its message is one that MTA's bulk-claimed patterns know, and only when it is ASCII
    # (RE2's \w \d \s are ASCII, Python's are not, and \S would take a Unicode space); the rest is parsed.
    remaining = pc.filter(lines, _arrow_bools(~candidate_mask))
    positions = np.flatnonzero(~candidate_mask)
    headers = QUIET_HEADERS.items() if forced is None else [(forced, ANY_HEADER)]
    ascii_only = None if non_ascii is None else ~non_ascii[~candidate_mask]
    for name, header in headers:
        if not len(remaining):
            break
        search = _quiet_search(forced, name, header)
        if search is None:
            continue
        claimed = _bools(pc.match_substring_regex(remaining, search))
        if ascii_only is not None:
            claimed &= ascii_only
        hits = int(claimed.sum())
        if hits:
            quiet[name] = hits
            remaining = pc.filter(remaining, _arrow_bools(~claimed))
            positions = positions[~claimed]
            if ascii_only is not None:
                ascii_only = ascii_only[~claimed]
    if forced is None and len(remaining):
        foreign = _bools(pc.match_substring_regex(remaining, FOREIGN_HEADER))
        quiet[""] = int(foreign.sum())
        positions = positions[~foreign]
    return positions
