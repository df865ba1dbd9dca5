"""The matching engine the three MTA parsers share: cheap literal prefilter, then a few anchored regexes.

A parser turns one syslog message into zero or more field dicts. Most lines of a busy server carry no
event, so a line reaches a regex only when it holds one of the literals of a pattern of its service.
"""
from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable
from pathlib import Path

from ..events import Direction, Kind
from ..patternfiles import (GUARDED_LENGTH, PATTERNS_DIR, TIMEOUT_SECONDS, LinePattern, field_of_group,
                            load_line_patterns)


class Unrecognised:
    """Returned for a line that looks significant to a parser but that no pattern matched."""


UNRECOGNISED = Unrecognised()

STATUS_KINDS: dict[str, Kind] = {
    "sent": Kind.DELIVERED, "deferred": Kind.DEFERRED, "softbounce": Kind.DEFERRED,
    "bounced": Kind.BOUNCED, "undeliverable": Kind.BOUNCED, "undeliverable-but-not-cached": Kind.BOUNCED,
    "expired": Kind.EXPIRED, "deliverable": Kind.OTHER,
    "reject": Kind.REJECTED, "milter-reject": Kind.REJECTED, "proxy-reject": Kind.REJECTED,
    "rejected": Kind.REJECTED, "temporarily rejected": Kind.REJECTED,
    "reject_warning": Kind.REJECT_WARNING,
    "**": Kind.BOUNCED, "==": Kind.DEFERRED,
}

# The reply at the start of a text: "550 5.1.1 ...", "550-5.7.1 ...", "host mx[ip] said: 421 ...".
REPLY_START_RE = re.compile(
    r"(?:(?:SASL authentication failed; server|host) (?P<host>[^\s\[\]]+)\[(?P<ip>[^\]\s]*)\](?::\d+)?"
    r" (?:said|refused to talk to me): )?"
    r"(?P<code>[245]\d\d)(?:[ -](?P<enhanced>[245]\.\d{1,3}\.\d{1,3}))?(?:[ -]|$)")
IN_REPLY_TO_RE = re.compile(r" \(in reply to (?P<command>[\w. -]{1,40}?)(?: command)?\)$")
# Text that looks like a reply code in reply position: the block engine parses every line holding it
# (one with a reply code is never counted in bulk, whatever its keywords).
CODE_HINT_RE = re.compile(r"\b[245]\d\d[ -][245]\.\d{1,3}\.\d{1,3}\b")


@functools.lru_cache(maxsize=65536)
def normalise_ip(text: str | None) -> str | None:
    """A valid IPv4/IPv6 address in canonical text form, or None ('unknown', 'private/x', junk)."""
    if not text:
        return None
    if text[:5].lower() == "ipv6:":
        text = text[5:]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def split_reply(text: str) -> tuple[str | None, str | None, str, str | None, str | None, str | None]:
    """(reply_code, enhanced_code, reply_text, command, host, ip) from a reply as MTAs quote it."""
    command = None
    if text.endswith(")") and " (in reply to " in text:  # the regex search costs more than these two
        tail = IN_REPLY_TO_RE.search(text)
        if tail:
            command = tail.group("command")
            text = text[:tail.start()]
    m = REPLY_START_RE.match(text)
    if not m:
        return None, None, text, command, None, None
    code, enhanced = m.group("code"), m.group("enhanced")
    rest = drop_continuations(text[m.end():], code, enhanced)
    return code, enhanced, rest, command, m.group("host"), m.group("ip")


def drop_continuations(text: str, code: str, enhanced: str | None) -> str:
    """A multi-line reply joined by the MTA, without the repeated "550-5.7.1 " line prefixes."""
    if f"{code}-" not in text and f"{code} {enhanced}" not in text:
        return text.strip()
    if enhanced:
        text = text.replace(f"{code}-{enhanced} ", "").replace(f"{code} {enhanced} ", "")
    else:
        text = text.replace(f"{code}-", "")
    return text.strip()


def _trusted_scope(message: str, pattern: LinePattern, found) -> str:
    """The part of the message in which each client_once and reply_once marker may occur only once."""
    if pattern.client_scope:
        # Up to the end of the LAST scope marker: a forged marker can only come before the MTA's own.
        end = message.rfind(pattern.client_scope)
        if end >= 0:
            end += len(pattern.client_scope)
            # With client_until, only when that group starts right there: a line without the field (an
            # Exim with no set_id=) may hold the marker in a forged HELO, which is no scope at all.
            if pattern.client_until is None or found.start(pattern.client_until) == end:
                return message[:end]
    return message


_ADDRESS_AFTER: dict[str, re.Pattern] = {}


def address_after(marker: str) -> str:
    """A regex for the address that follows `marker` (one that opens a bracketed address, such as Exim's
    ") ["), captured as group 1."""
    return re.escape(marker) + r"(?:IPv6:)?([0-9A-Fa-f:.]{2,45})\]"


def _addresses_after(scope: str, marker: str) -> list[str]:
    """The addresses that follow `marker`, normalised."""
    found = _ADDRESS_AFTER.get(marker)
    if found is None:
        found = _ADDRESS_AFTER[marker] = re.compile(address_after(marker))
    return [ip for ip in map(normalise_ip, found.findall(scope)) if ip]


def _forged_client(scope: str, markers: tuple[str, ...], client_ip: str | None) -> bool:
    """True when a client marker occurs twice where only one can be the MTA's own. For a marker that opens
    an address, only another address is a second copy: "a) [b" in a quoted address names nobody, and the
    client's own address again frames nobody."""
    for marker in markers:
        if marker.endswith("["):
            if any(ip != client_ip for ip in _addresses_after(scope, marker)):
                return True
        elif scope.count(marker) > 1:
            return True
    return False


def _forged_reply(scope: str, markers: tuple[str, ...]) -> bool:
    """True when the marker before the MTA's reply occurs twice: which one starts the reply is a guess
    (even around the client's own address, which a HELO may repeat with a forged reply after it)."""
    return any((len(_addresses_after(scope, marker)) if marker.endswith("[") else scope.count(marker)) > 1
               for marker in markers)


Finisher = Callable[[dict, LinePattern, str], list[dict]]


class MtaParser:
    """Matches the messages of one MTA against its pattern file."""

    def __init__(self, mta: str, finish: Finisher | None = None, path: Path | None = None,
                 prepare: Callable[[str], str] | None = None, finish_frame: Callable | None = None):
        self.mta = mta
        self.finish_frame = finish_frame  # `finish` as polars columns, for the columnar parse (frames.py)
        self._prepare = prepare
        self.path = path or PATTERNS_DIR / "lines" / f"{mta}.toml"
        self._patterns: list[LinePattern] | None = None
        self._finish = finish
        self._by_service: dict[str, list[LinePattern]] = {}

    @property
    def patterns(self) -> list[LinePattern]:
        # Loaded on first use, so that a broken pattern file is reported by the command, not at import.
        if self._patterns is None:
            self._patterns = load_line_patterns(self.path)
        return self._patterns

    def candidates(self, service: str) -> list[tuple[str, LinePattern, tuple[str | None, ...]]]:
        """(literal, pattern, the name of each of its groups) for the patterns of one service, in pattern
        order, one entry per literal: one flat loop costs less than a loop over patterns and their literals.
        """
        found = self._by_service.get(service)
        if found is None:
            found = []
            for pattern in self.patterns:
                if pattern.services is None or service in pattern.services:
                    names: list[str | None] = [None] * pattern.regex.groups
                    for name, index in pattern.regex.groupindex.items():
                        names[index - 1] = field_of_group(name)
                    found.extend((literal, pattern, tuple(names)) for literal in pattern.contains)
            self._by_service[service] = found
        return found

    def match(self, service: str, message: str):
        """(pattern, group names, match) of the first pattern matching the message, or UNRECOGNISED.

        Nothing defaults to "no event": a line no pattern knows, with or without a keyword, is unknown,
        so that a shape nobody taught the parser is counted and shown (check-patterns --shapes).
        Raises TimeoutError when a long message outlasts the guard (the caller counts the line).
        """
        guarded = len(message) > GUARDED_LENGTH
        tried = None  # a pattern's literals are side by side: its second literal must not try it again
        for literal, pattern, names in self.candidates(service):
            if literal not in message or pattern is tried:
                continue
            tried = pattern
            if guarded:
                found = pattern.regex.match(message, timeout=TIMEOUT_SECONDS)
            else:
                found = pattern.regex.match(message)
            if found is not None:
                return pattern, names, found
        return UNRECOGNISED

    def prepared(self, message: str) -> str:
        """The message as the patterns see it (Exim's syslog copies lose their own time stamp)."""
        return message if self._prepare is None else self._prepare(message)

    def parse(self, service: str, message: str) -> tuple[list[dict], LinePattern | None] | Unrecognised:
        """Field dicts for the events in one message (empty for a known line without event)."""
        message = self.prepared(message)
        if not message:  # what prepare() knows to hold no log line (Exim's continuation parts)
            return [], None
        matched = self.match(service, message)
        if matched is UNRECOGNISED:
            return matched
        pattern, names, found = matched
        if not pattern.event:
            return [], pattern
        # groups() and the names by position: the regex module's groupdict() costs twice as much.
        fields = {name: value for name, value in zip(names, found.groups()) if value is not None and name}
        fields = self._normalise(fields, pattern)
        scope = _trusted_scope(message, pattern, found) if pattern.client_once or pattern.reply_once else ""
        if _forged_client(scope, pattern.client_once, fields.get("client_ip")):
            for key in ("client_ip", "client_host"):
                fields.pop(key, None)
        if _forged_reply(scope, pattern.reply_once):
            # The host that gave the reply goes with it: a forged "H=x [ip]: SMTP error..." names both. The
            # line still went to a remote host, whichever it was.
            if "relay_ip" in fields and "direction" not in fields:
                fields["direction"] = Direction.OUTBOUND
            for key in ("reply_code", "enhanced_code", "code_inferred", "relay_host", "relay_ip"):
                fields.pop(key, None)
            if pattern.infer_reply_code:  # what the line's kind itself says, as on a line without a reply
                fields["reply_code"], fields["code_inferred"] = pattern.infer_reply_code, True
                if pattern.infer_enhanced_code:
                    fields["enhanced_code"] = pattern.infer_enhanced_code
        results = self._finish(fields, pattern, service) if self._finish else [fields]
        for result in results:
            result.pop("status", None)
        return results, pattern

    def _normalise(self, fields: dict, pattern: LinePattern) -> dict:
        status = fields.get("status")  # the MTA's word for the outcome: its finisher may read it, then it goes
        kind = pattern.kind
        if status is not None:
            kind = STATUS_KINDS.get(status.lower(), kind or Kind.OTHER)
        fields["kind"] = kind
        if pattern.direction is not None:
            fields["direction"] = pattern.direction
        if fields.get("queue_id") == "NOQUEUE":
            del fields["queue_id"]
        text = fields.get("reply_text")
        if text is not None and "reply_code" in fields:
            fields["reply_text"] = drop_continuations(text, fields["reply_code"], fields.get("enhanced_code"))
        elif text is not None and pattern.reply_codes:
            code, enhanced, rest, command, host, ip = split_reply(text)
            if host is not None and pattern.direction is Direction.INBOUND:
                # "host X[ip] said: 550 ..." inside a refusal this server made is text it quotes (a callout's
                # answer, a sender's words), not its own reply: neither its code nor its host are taken.
                code, rest = None, text
            if code is not None:
                fields["reply_code"] = code
                if enhanced:
                    fields.setdefault("enhanced_code", enhanced)
                if host and "relay_host" not in fields:
                    fields["relay_host"], fields["relay_ip"] = host, ip
            fields["reply_text"] = rest
            if command and "command" not in fields:
                fields["command"] = command
        dsn = fields.pop("dsn", None)
        if dsn is not None:
            fields["enhanced_code"] = dsn  # the MTA's own verdict; the reply text may differ
        if "reply_code" not in fields and pattern.infer_reply_code:
            fields["reply_code"] = pattern.infer_reply_code
            fields["code_inferred"] = True
            if pattern.infer_enhanced_code:
                fields.setdefault("enhanced_code", pattern.infer_enhanced_code)
        for key in ("client_ip", "relay_ip"):
            if key in fields:
                fields[key] = normalise_ip(fields[key])
        for key in ("client_host", "relay_host"):
            if fields.get(key) in ("", "unknown"):
                del fields[key]
        if fields.get("reply_text") == "":
            del fields["reply_text"]
        return fields

