"""Exim: a single program with no daemons to tell apart; its own timestamp unless logged via syslog.

Delivery lines name the remote server with H=, inbound lines name the client with H=: the pattern
decides which of relay_* or client_* it fills.
"""
from __future__ import annotations

import re

from ..events import Direction, Kind
from ..patternfiles import LinePattern
from .engine import MtaParser


# smtp_in.c smtp_handle_acl_fail(): an ACL's defer is answered 451 unless its message starts with a code,
# and then the log shows that code (when log_message is not set apart from message).
DEFER_CODE = "451"


def finish(fields: dict, pattern: LinePattern, service: str) -> list[dict]:
    if fields.get("status") == "temporarily rejected" and "reply_code" not in fields:
        fields["reply_code"], fields["code_inferred"] = DEFER_CODE, True
    if "direction" not in fields and fields.get("kind") in (Kind.DELIVERED, Kind.BOUNCED, Kind.DEFERRED):
        # Deliveries with no remote host went to a local transport (appendfile, pipe, lmtp socket).
        fields["direction"] = Direction.OUTBOUND if "relay_ip" in fields else Direction.LOCAL
    return [fields]


# With log_file_path = syslog, Exim still writes its own time (and [pid]) at the start of the message.
# Exim's own time, as its log files start a line: "2026-11-28 10:00:01[.123][ +0100]".
STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{3})?(?: [+-]\d{4})?"
OWN_STAMP_RE = re.compile(STAMP + r"(?: \[\d+\])? ")
# ... and a log entry of several lines (a rejection with the message's headers), or one longer than a
# syslog line, becomes syslog lines marked "[part\parts] " (cut at a line end) or "[part/parts] " (cut for
# length): the first part is the log line (maybe cut short); the others are the rest, mostly header text
# the sender wrote, which must never be read as a log line. Without its own time, Exim may still start
# the message with "[pid] ".
PART_RE = re.compile(r"\[(\d{1,5})[\\/]\d{1,5}\] ")
PID_RE = re.compile(r"\[\d{1,10}\] ")


def prepare(message: str) -> str:
    if message[:1] == "[":
        part = PART_RE.match(message)
        if part is not None:
            if part.group(1) != "1":
                return ""  # a known line without an event
            message = message[part.end():]
        if message[:1] == "[":
            pid = PID_RE.match(message)
            if pid is not None:
                message = message[pid.end():]
    return drop_own_timestamp(message)


def drop_own_timestamp(message: str) -> str:
    # "2026-11-28 ": message ids start with a digit too, but never have dashes at 4 and 7.
    if message[4:5] == "-" and message[7:8] == "-" and message[:1].isdigit():
        found = OWN_STAMP_RE.match(message)
        if found:
            return message[found.end():]
    return message



def finish_frame(frame, pattern: LinePattern):
    """finish() as polars columns, for the columnar parse (analyzer.frames)."""
    import polars as pl
    c = pl.col
    deferred = (c("status") == "temporarily rejected").fill_null(False) & c("reply_code").is_null()
    frame = frame.with_columns(
        pl.when(deferred).then(pl.lit(DEFER_CODE)).otherwise(c("reply_code")).alias("reply_code"),
        (c("code_inferred") | deferred).alias("code_inferred"))
    delivery = c("direction").is_null() & c("kind").is_in([Kind.DELIVERED.value, Kind.BOUNCED.value,
                                                           Kind.DEFERRED.value]).fill_null(False)
    return frame.with_columns(
        pl.when(delivery).then(pl.when(c("relay_given")).then(pl.lit(Direction.OUTBOUND.value))
                               .otherwise(pl.lit(Direction.LOCAL.value)))
        .otherwise(c("direction")).alias("direction"))


PARSER = MtaParser("exim", finish, prepare=prepare, finish_frame=finish_frame)
