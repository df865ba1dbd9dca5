"""Postfix: one program per daemon (postfix/smtpd, postfix/submission/smtpd, postfix-out/smtp...).

The service is the last component of the program name, so each line meets only its daemon's patterns.
"""
from __future__ import annotations

from ..events import Direction
from ..patternfiles import LinePattern
from .engine import MtaParser

LOCAL_AGENTS = frozenset({"local", "virtual", "pipe"})


def finish(fields: dict, pattern: LinePattern, service: str) -> list[dict]:
    if service in LOCAL_AGENTS:
        fields["direction"] = Direction.LOCAL
    if "relay_host" in fields and "relay_ip" not in fields and pattern.id == "postfix.delivery-status":
        del fields["relay_host"]  # relay=none, relay=local, relay=dovecot: a transport, not a host
    if fields.get("sasl_username") == "(unavailable)":
        del fields["sasl_username"]  # Postfix's placeholder when the client gave no login name
    return [fields]



def finish_frame(frame, pattern: LinePattern):
    """finish() as polars columns, for the columnar parse (analyzer.frames)."""
    import polars as pl
    c = pl.col
    columns = [
        pl.when(c("service").is_in(list(LOCAL_AGENTS))).then(pl.lit(Direction.LOCAL.value))
        .otherwise(c("direction")).alias("direction"),
        pl.when(c("sasl_username") == "(unavailable)").then(None).otherwise(c("sasl_username")).alias("sasl_username"),
    ]
    if pattern.id == "postfix.delivery-status":
        columns.append(pl.when(~c("relay_given")).then(None).otherwise(c("relay_host")).alias("relay_host"))
    return frame.with_columns(columns)


PARSER = MtaParser("postfix", finish, finish_frame=finish_frame)
