"""The parser registry, and what all three MTAs share: the line header and which MTA wrote a line.

A line is split once into header (timestamp text, host, program, pid) and message; the program name
says which MTA parser (and which of its services) gets the message. Exim's own log files have no
program name: their "YYYY-MM-DD HH:MM:SS" header marks them.
"""
from __future__ import annotations

import re
from typing import NamedTuple

from . import exim, postfix, sendmail
from .engine import UNRECOGNISED, MtaParser, Unrecognised

PARSERS: dict[str, MtaParser] = {
    "postfix": postfix.PARSER,
    "exim": exim.PARSER,
    "sendmail": sendmail.PARSER,
}
MTA_NAMES = tuple(PARSERS)

# "Nov 28 10:00:01 host prog[pid]: " (RFC 3164) or "2026-11-28T10:00:01.123456+01:00 host prog[pid]: "
# (RFC 3339: rsyslog high precision, journalctl -o short-iso).
SYSLOG_HEADER_RE = re.compile(
    r"(?P<ts>[A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d(?:\.\d{1,9})?"
    r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d(?::?\d\d)?)?)"
    r" (?P<host>\S{1,255}) (?P<program>[^\s\[\]:]{1,128})(?:\[(?P<pid>\d{1,10})\])?: ")
# Exim's own mainlog/rejectlog/paniclog: "2026-11-28 10:00:01[.123] [+0100] [[pid]] ".
EXIM_HEADER_RE = re.compile(rf"(?P<ts>{exim.STAMP})(?: \[(?P<pid>\d{{1,10}})\])? ")

POSTFIX_DAEMONS = frozenset({
    "smtpd", "smtp", "lmtp", "local", "virtual", "pipe", "qmgr", "oqmgr", "cleanup", "bounce", "defer",
    "trace", "postscreen", "dnsblog", "anvil", "tlsproxy", "pickup", "error", "retry", "discard",
    "master", "postsuper", "sendmail", "postdrop", "postqueue", "trivial-rewrite", "scache", "verify",
    "flush", "showq", "proxymap", "proxywrite", "tlsmgr", "postlog", "spawn", "postfix-script",
    "postmap", "postalias", "postmulti", "relay", "lmtp-in", "submission", "smtps"})


class Header(NamedTuple):
    timestamp_text: str
    host: str | None
    program: str | None
    pid: str | None
    message: str


def load_all_patterns() -> None:
    """Compile every MTA's pattern file (once): a broken file stops a command before it reads or writes
    anything, whichever MTAs its input holds and whichever engine reads it."""
    for parser in PARSERS.values():
        parser.patterns  # the property reads, checks and compiles the file on first use


def split_header(line: str) -> Header | None:
    """The syslog or Exim header of a line, or None when the line has neither.

    This runs on every line, so the common shapes are cut with string searches; the regexes above
    define the same shapes and decide the rare ones.
    """
    if len(line) < 20:
        return None
    first = line[0]
    if first == "<":  # a syslog priority: "<22>Nov 28 ..." (RFC 3164 as sent) or "<22>1 2026-..." (RFC 5424)
        close = line.find(">", 1, 5)
        if close < 2 or not line[1:close].isdigit():
            return None
        if line[close + 1:close + 3] == "1 ":
            return _split_rfc5424(line[close + 3:])
        return split_header(line[close + 1:])
    if first.isdigit():
        if line[10] == " ":
            found = EXIM_HEADER_RE.match(line)
            if found:
                return Header(found.group("ts"), None, None, found.group("pid"), line[found.end():])
            return None
        if line[10] != "T" or line[4] != "-":
            return None
        stamp_end = line.find(" ", 19, 40)
    elif line[3] == " " and line[6] == " " and line[9] == ":" and line[15] == " ":
        stamp_end = 15
    else:
        found = SYSLOG_HEADER_RE.match(line)  # e.g. fractional seconds after an RFC 3164 stamp
        if found:
            return Header(found.group("ts"), found.group("host"), found.group("program"),
                          found.group("pid"), _without_message_id(line[found.end():]))
        return None
    host_end = line.find(" ", stamp_end + 1)
    tag_end = line.find(": ", host_end + 1, host_end + 160)
    if stamp_end < 0 or host_end < 0 or tag_end < 0:
        return None
    tag = line[host_end + 1:tag_end]
    if " " in tag or not tag:
        return None
    pid = None
    if tag[-1] == "]":
        bracket = tag.find("[")
        pid = tag[bracket + 1:-1]
        if bracket <= 0 or not pid.isdigit():
            return None
        tag = tag[:bracket]
    message = line[tag_end + 2:]
    if message[:4] == "[ID ":
        message = _without_message_id(message)
    return Header(line[:stamp_end], line[stamp_end + 1:host_end], tag, pid, message)


# Solaris and illumos syslogd tag a message after "program[pid]: " with "[ID 801593 mail.info] " (a hash of
# the message's format, then facility.level).
MESSAGE_ID_RE = re.compile(r"\[ID \d{1,10} [a-z0-9]{1,16}\.[a-z]{1,10}\] ")


def _without_message_id(message: str) -> str:
    found = MESSAGE_ID_RE.match(message)
    return message[found.end():] if found else message


# RFC 5424 after "<PRI>1 ": TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG ("-" = none).
RFC5424_RE = re.compile(r"(?P<ts>\S{1,64}) (?P<host>\S{1,255}) (?P<app>\S{1,48}) (?P<procid>\S{1,128}) \S{1,32} "
                        r"(?:-|(?:\[(?:[^\]\\]|\\.){0,4096}\])+)(?: |$)")


def _split_rfc5424(rest: str) -> Header | None:
    found = RFC5424_RE.match(rest)
    if found is None or found.group("app") == "-":
        return None
    procid = found.group("procid")
    message = rest[found.end():]
    if message.startswith("\ufeff"):  # the BOM that marks a UTF-8 message
        message = message[1:]
    return Header(found.group("ts"), found.group("host"), found.group("app"), procid if procid.isdigit() else None,
                  message)


_PROGRAMS: dict[str, tuple[str, str] | None] = {}


def identify_program(program: str) -> tuple[str, str] | None:
    """(mta, service) for a syslog program name, or None when no supported MTA writes it."""
    known = _PROGRAMS.get(program, False)
    if known is not False:
        return known
    name = program.lower()
    service = name.rsplit("/", 1)[-1]
    if "/" in name and (name.startswith("postfix") or service in POSTFIX_DAEMONS):
        found = ("postfix", service)
    elif name in ("sendmail", "sm-mta", "sm-msp-queue") or name.startswith("sm-"):
        found = ("sendmail", name)
    elif name.startswith("exim"):
        found = ("exim", "exim")
    else:
        found = None
    if len(_PROGRAMS) < 4096:  # attacker-chosen program names must not grow the cache without bound
        _PROGRAMS[program] = found
    return found


def route(program: str | None, forced: str | None) -> tuple[str, str] | None:
    """(mta, service) for a line's program (None: Exim's own files), with --mta `forced`; None for a program
    no supported MTA writes."""
    if program is None:
        return forced or "exim", "exim"
    found = identify_program(program)
    if forced:
        return forced, (found[1] if found else program.rsplit("/", 1)[-1].lower())
    return found


def detect_mta(line: str) -> str | None:
    """The MTA that wrote a line, judged from its header alone."""
    header = split_header(line)
    if header is None:
        return None
    if header.program is None:
        return "exim"
    found = identify_program(header.program)
    return found[0] if found else None


__all__ = ["PARSERS", "MTA_NAMES", "Header", "load_all_patterns", "split_header", "identify_program", "route",
           "detect_mta",
           "UNRECOGNISED", "Unrecognised"]
