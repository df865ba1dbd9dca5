"""The shape of a log line: its words with what varies from line to line masked, so that the lines no
pattern knows can be grouped, counted and sent upstream (check-patterns --unmatched --shapes).

A shape keeps the MTA's own words and punctuation and masks addresses, ids, names and numbers: two
lines of one kind from different clients, queues and days have one shape. Masks are written in capitals
between angle brackets (<IP>, <ADDR>, <ID>, <HOST>, <N>), which no log line of the three MTAs uses.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .parsers import PARSERS, route, split_header

# In the order they are tried: the longer and more specific forms first, so that an address is masked
# whole before its domain or its numbers could be.
_MASKS = [
    # quoted text (a subject, a certificate's name, a quoted command) is the writer's, not the MTA's
    (re.compile(r'"[^"]*"'), '"<TEXT>"'),
    (re.compile(r"<[^<>\s]*@[^<>\s]*>|(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<ADDR>"),
    # IPv6 with "::" or four groups and more (a time of day has three), and IPv4
    (re.compile(r"(?<![\w:.\]])(?:IPv6:)?(?:[0-9A-Fa-f]{1,4}:){3,7}[0-9A-Fa-f]{1,4}(?![\w:])"
                r"|(?<![\w:.\]])(?:IPv6:)?(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4})*)?::"
                r"(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4})*)?(?![\w:])"
                r"|(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w.])"), "<IP>"),
    # Exim message ids (6-6-2, 6-11-4), Sendmail and Postfix queue ids, hex and base-52 long ids
    (re.compile(r"\b[0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4}\b"
                r"|\b(?=[0-9A-Za-z]*\d)(?=[0-9A-Za-z]*[A-Z])[0-9A-Za-z]{10,20}\b"), "<ID>"),
    (re.compile(r"\b(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]{0,62}\.?(?![\w.-])"),
     "<HOST>"),
    # the name before "[address]", whatever it is ("unknown", a bare host name, junk)
    (re.compile(r"[^\s\[\]()<>=,]+(?=\[<IP>\])"), "<HOST>"),
    (re.compile(r"\d+(?:[.:]\d+)*"), "<N>"),
]
SHAPE_CHARS = 240  # a shape is a kind of line, not the line: its tail (free text) is cut


def shape_of(message: str) -> str:
    """The message with its variable parts masked."""
    text = message[:SHAPE_CHARS * 2]
    for pattern, mask in _MASKS:
        text = pattern.sub(mask, text)
    return text[:SHAPE_CHARS]


def line_shape(line: str, forced_mta: str | None = None) -> str:
    """'mta/service: shape' of a whole log line (its header decides the MTA and service)."""
    header = split_header(line)
    if header is None:
        return "(no header): " + shape_of(line)
    found = route(header.program, forced_mta) or ("?", header.program)  # only MTA lines are unrecognised
    parser = PARSERS.get(found[0])
    # as the patterns see it: an Exim syslog copy without Exim's own time stamp
    message = parser.prepared(header.message) if parser is not None else header.message
    return f"{found[0]}/{found[1]}: {shape_of(message)}"


@dataclass(slots=True)
class Shape:
    text: str
    count: int = 0
    example: str = ""        # the first line seen of this shape
    where: str = ""          # file:line of that example


class ShapeCounter:
    """Counts lines by shape as they come (reader.ReadOptions.unrecognised). At most `limit` distinct shapes
    are kept: a log of random junk must not hold them all in memory, and the lines past the limit are still
    counted."""

    def __init__(self, forced_mta: str | None = None, limit: int = 10_000):
        self.forced_mta = forced_mta
        self.limit = limit
        self.shapes: dict[str, Shape] = {}
        self.lines = self.dropped = 0

    def add(self, source: str, line_no: int, line: str) -> None:
        self.lines += 1
        text = line_shape(line, self.forced_mta)
        found = self.shapes.get(text)
        if found is None:
            if len(self.shapes) >= self.limit:
                self.dropped += 1
                return
            found = self.shapes[text] = Shape(text, example=line, where=f"{source}:{line_no}")
        found.count += 1

    def result(self) -> tuple[list[Shape], int]:
        """(shapes, most frequent first; the count of lines whose shape was not kept)."""
        return sorted(self.shapes.values(), key=lambda shape: (-shape.count, shape.text)), self.dropped
