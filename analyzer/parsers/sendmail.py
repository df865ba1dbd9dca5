"""Sendmail: key=value lines keyed by queue id; one to= may list several recipients.

A delivery line's outcome is in stat= (Sent, Deferred: <reply>, or the failure text) and dsn=.
"""
from __future__ import annotations

import re

from ..events import Direction, Kind
from ..patternfiles import LinePattern
from .engine import split_reply
from .engine import MtaParser

LOCAL_MAILERS = frozenset({"local", "prog", "cyrus", "cyrusv2", "*file*", "*include*", "procmail"})
# One address of a to= list, as the pattern's recipient fragment reads it: <"a>,<b>"@x> is one (a quoted
# local part may hold ">" and ","), and so is an unbracketed "q, x"@y.
QUOTED = r'"(?:[^"\\]|\\.)*"'  # a quoted string, its quotes and backslashes escaped
RECIPIENT_RE = re.compile(rf'<[^">]*(?:{QUOTED}[^">]*)*>|(?:[^,"<\s]|{QUOTED})[^,"<]*(?:{QUOTED}[^,"<]*)*')


def _delivery_kind(stat: str | None, dsn: str | None) -> Kind:
    # dsn= first: it is Sendmail's own verdict, while stat= may end in text a remote server or a quoted
    # address wrote (a reply= holding ", stat=Sent" once made a bounce look delivered).
    if dsn:
        return {"2": Kind.DELIVERED, "4": Kind.DEFERRED}.get(dsn[0], Kind.BOUNCED)
    if stat is not None:
        if stat.startswith("Sent"):
            return Kind.DELIVERED
        if stat.startswith("Deferred"):
            return Kind.DEFERRED
        if stat == "queued":  # DeliveryMode queue or defer, a dsmtp mailer: kept for a later run, no outcome
            return Kind.OTHER
    return Kind.BOUNCED


def finish(fields: dict, pattern: LinePattern, service: str) -> list[dict]:
    if pattern.id == "sendmail.ruleset-reject":
        # arg1 is the address under test: the sender for check_mail, the recipient for check_rcpt,
        # the client's name for check_relay.
        argument = fields.pop("recipient", "").strip("<>")
        if fields.get("command") == "check_mail":
            fields["sender"] = argument
        elif fields.get("command") == "check_rcpt":
            fields["recipient"] = argument
        return [fields]
    if pattern.id != "sendmail.delivery":
        return [fields]
    stat = fields.get("reply_text")
    fields["kind"] = _delivery_kind(stat, fields.get("enhanced_code"))
    # Sendmail 8.17 logs the reply itself ("reply=550 5.1.1 User unknown", its pattern sure of a code) before
    # stat=; otherwise "Deferred: 451 4.3.5 text" and "Sent (text)" carry it, where there is one.
    reply = fields.pop("reply", None)
    if reply is None and stat is not None:
        reply = stat.split(": ", 1)[1] if stat.startswith("Deferred: ") else stat
    if reply is not None:
        code, enhanced, text, _command, _host, _ip = split_reply(reply)
        if code is not None:
            fields["reply_code"] = code
            fields.setdefault("enhanced_code", enhanced)
        fields["reply_text"] = text if code is not None else stat
    if fields.pop("mailer", None) in LOCAL_MAILERS:
        fields["direction"] = Direction.LOCAL
    recipients = [r.strip().strip("<>") for r in RECIPIENT_RE.findall(fields.pop("recipient", ""))]
    if len(recipients) <= 1:
        if recipients:
            fields["recipient"] = recipients[0]
        return [fields]
    return [{**fields, "recipient": recipient} for recipient in recipients]



def finish_frame(frame, pattern: LinePattern):
    """finish() as polars columns, for the columnar parse (analyzer.frames)."""
    import polars as pl
    from ..frames import split_reply
    c = pl.col
    if pattern.id == "sendmail.ruleset-reject":
        argument = c("recipient").fill_null("").str.strip_chars("<>")
        return frame.with_columns(
            pl.when(c("command") == "check_mail").then(argument).otherwise(c("sender")).alias("sender"),
            pl.when(c("command") == "check_rcpt").then(argument).otherwise(None).alias("recipient"))
    if pattern.id != "sendmail.delivery":
        return frame
    stat, enhanced = c("reply_text"), c("enhanced_code")
    kind = (pl.when(enhanced.is_not_null() & (enhanced != ""))
            .then(pl.when(enhanced.str.starts_with("2")).then(pl.lit(Kind.DELIVERED.value))
                  .when(enhanced.str.starts_with("4")).then(pl.lit(Kind.DEFERRED.value))
                  .otherwise(pl.lit(Kind.BOUNCED.value)))
            .when(stat.str.starts_with("Sent")).then(pl.lit(Kind.DELIVERED.value))
            .when(stat.str.starts_with("Deferred")).then(pl.lit(Kind.DEFERRED.value))
            .when(stat == "queued").then(pl.lit(Kind.OTHER.value))
            .otherwise(pl.lit(Kind.BOUNCED.value)))
    reply = (pl.when(c("reply").is_not_null()).then(c("reply"))
             .when(stat.str.starts_with("Deferred: ")).then(stat.str.splitn(": ", 2).struct.field("field_1"))
             .otherwise(stat))
    frame = frame.with_columns(kind.alias("kind"), reply.alias("reply"))
    split = split_reply(frame["reply"])
    coded = split["code"].is_not_null()
    frame = frame.with_columns(
        pl.when(coded).then(split["code"]).otherwise(c("reply_code")).alias("reply_code"),
        pl.when(coded).then(pl.coalesce(enhanced, split["enhanced"])).otherwise(enhanced).alias("enhanced_code"),
        pl.when(coded).then(split["rest"]).otherwise(stat).alias("reply_text"),
        pl.when(c("mailer").is_in(list(LOCAL_MAILERS))).then(pl.lit(Direction.LOCAL.value))
        .otherwise(c("direction")).alias("direction"),
    )
    recipients = (c("recipient").fill_null("").str.extract_all(RECIPIENT_RE.pattern)
                  .list.eval(pl.element().str.strip_chars().str.strip_chars("<>")))
    frame = frame.with_columns(recipients.alias("recipient"))
    frame = frame.with_columns(pl.when(c("recipient").list.len() == 0).then(pl.lit([None], pl.List(pl.String)))
                               .otherwise(c("recipient")).alias("recipient"))
    return frame.explode("recipient")


PARSER = MtaParser("sendmail", finish, finish_frame=finish_frame)
