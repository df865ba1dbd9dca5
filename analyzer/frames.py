"""The columnar parse: a block's candidate lines become event columns with polars kernels.

blockscan finds the lines of a block that may carry an event (the candidates) and counts the rest. Here
the candidates are parsed as columns: headers cut by one anchored regex per shape, each line given the
first pattern of its service that matches (literal prefilter, then the pattern's regex, in file order),
the groups of each pattern extracted at once, and the line engine's normalisation and each MTA's
finisher applied as column expressions. Polars' regex engine is Rust's, linear in time, so no line can
stall a block.

A line is parsed here only where the columns surely give what the line engine gives: printable ASCII
(Python's and Rust's \\s, \\w and str.strip() differ beyond it), a header of one of the common shapes,
no marker a client could have forged twice, no Exim syslog copy (which needs the lines before it). Any
other candidate goes to the line engine, `LineHandler.handle`, in line order with the rest: both the
year inference of syslog time stamps and Exim's copy detection read the lines in order.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import polars as pl

from .events import Direction, Event, Kind, LineOutcome
from .parsers import EXIM_HEADER_RE, PARSERS, SYSLOG_HEADER_RE, route
from .parsers.engine import IN_REPLY_TO_RE, REPLY_START_RE, STATUS_KINDS, address_after, normalise_ip
from .patternfiles import GUARDED_LENGTH, PATTERN_GROUPS, LinePattern, field_of_group

# Lines that the columns parse: printable ASCII, tab allowed (Python's whitespace adds \x1c-\x1f).
BULK_LINE = r"^[\t -~]*$"
# What Exim's prepare() would change: a part marker or [pid] first, or Exim's own stamp in the message.
EXIM_PREPARED = r"^(?:\[|[0-9]{4}-[0-9]{2}-)"
STATUS_VALUES = {word: kind.value for word, kind in STATUS_KINDS.items()}
FIELDS = tuple(sorted(PATTERN_GROUPS))
_START = "^" + REPLY_START_RE.pattern
_TAIL = IN_REPLY_TO_RE.pattern


@dataclass(slots=True)
class Parsed:
    """The candidates of a block, parsed: what becomes of each, and the event columns of those parsed here."""

    outcome: np.ndarray       # per candidate: 0 to the line engine, 1 event, 2 no event, 3 problem, 4 unknown
    mta: list                 # per candidate: the MTA of a line parsed here
    events: pl.DataFrame      # one row per event of the lines parsed here (several for a Sendmail to= list)


TO_LINE_ENGINE, EVENT_ROW, NO_EVENT_ROW, PROBLEM_ROW, UNKNOWN_ROW = range(5)


def parse_candidates(lines: pl.Series, forced: str | None) -> Parsed:
    """Parse what the columns can of a block's candidate lines (see the module docstring)."""
    count = len(lines)
    outcome = np.zeros(count, dtype=np.int8)
    mtas: list = [None] * count
    frame = pl.DataFrame({"line": lines, "row": np.arange(count, dtype=np.int64)})
    frame = frame.filter(pl.col("line").str.len_bytes() <= GUARDED_LENGTH,
                         pl.col("line").str.contains(BULK_LINE))
    parts = [_split(frame, SYSLOG_HEADER_RE.pattern), _split(frame, EXIM_HEADER_RE.pattern)]
    frame = pl.concat(parts, how="diagonal")
    pieces: list[pl.DataFrame] = []
    if len(frame):
        frame = _route(frame, forced)
        for mta in frame["mta"].unique().to_list():
            mine = frame.filter(pl.col("mta") == mta)
            for row in mine["row"].to_list():
                mtas[row] = mta
            pieces.append(_parse_mta(mine, mta, outcome))
    events = pl.concat(pieces, how="vertical").sort("row", maintain_order=True) if pieces else _empty_events()
    return Parsed(outcome, mtas, events)


def _split(frame: pl.DataFrame, header: str) -> pl.DataFrame:
    """Rows whose header is of this shape (a regex of parsers/__init__.py): time stamp text, host, program,
    pid, message. On these lines split_header() cuts where the regex does (its string searches stand for
    the same shapes); a line it would cut otherwise, such as one with a tab in its tag, has no match here
    and goes to the line engine."""
    groups = frame["line"].str.extract_groups(f"^(?P<header>{header})").struct.unnest()
    found = pl.concat([frame, groups], how="horizontal").drop_nulls("header")
    found = found.with_columns(pl.col("line").str.slice(pl.col("header").str.len_chars()).alias("message"))
    # A Solaris [ID ...] tag: the line engine takes it off.
    return found.drop("header").filter(~pl.col("message").str.starts_with("[ID "))


def _route(frame: pl.DataFrame, forced: str | None) -> pl.DataFrame:
    """Each row's MTA and service, as parsers.route() gives them; rows no MTA writes are left out (the line
    engine counts them, and they are few among candidates)."""
    routes = {program: route(program, forced) for program in frame["program"].drop_nulls().unique().to_list()}
    mtas = {program: found and found[0] for program, found in routes.items()}
    services = {program: found and found[1] for program, found in routes.items()}
    program = pl.col("program")
    frame = frame.with_columns(
        pl.when(program.is_null()).then(pl.lit(forced or "exim"))
        .otherwise(program.replace_strict(mtas, default=None, return_dtype=pl.String)).alias("mta"),
        pl.when(program.is_null()).then(pl.lit("exim"))
        .otherwise(program.replace_strict(services, default=None, return_dtype=pl.String)).alias("service"),
    ).drop_nulls("mta")
    # Exim through syslog: its copies are told apart by the lines before them (reader.LineHandler).
    exim = pl.col("mta") == "exim"
    return frame.filter(~(exim & program.is_not_null()),
                        ~(exim & pl.col("message").str.contains(EXIM_PREPARED)))


def _parse_mta(frame: pl.DataFrame, mta: str, outcome: np.ndarray) -> pl.DataFrame:
    parser = PARSERS[mta]
    rows = frame["row"].to_numpy()
    messages = frame["message"]
    services = frame["service"]
    # An empty message is a known line without an event, as engine.MtaParser.parse() has it.
    empty = (messages == "").to_numpy()
    outcome[rows[empty]] = NO_EVENT_ROW
    unassigned = ~empty
    chosen = np.full(len(frame), -1, dtype=np.int32)
    patterns = parser.patterns
    for index, pattern in enumerate(patterns):
        if not pattern.contains or not unassigned.any():
            continue
        eligible = unassigned.copy()
        if pattern.services is not None:
            eligible &= services.is_in(list(pattern.services)).fill_null(False).to_numpy()
        if not eligible.any():
            continue
        positions = np.flatnonzero(eligible)
        subset = messages.gather(positions)
        hits = subset.str.contains_any(list(pattern.contains)) & subset.str.contains(anchored(pattern))
        matched = positions[hits.fill_null(False).to_numpy()]
        chosen[matched] = index
        unassigned[matched] = False
    outcome[rows[unassigned]] = UNKNOWN_ROW
    frame = frame.with_columns(pl.Series("pattern", chosen))
    pieces = []
    for index in np.unique(chosen[chosen >= 0]).tolist():
        pattern = patterns[index]
        mine = chosen == index
        if not pattern.event:
            outcome[rows[mine]] = PROBLEM_ROW if pattern.problem else NO_EVENT_ROW
            continue
        events, kept = _events_of(frame.filter(pl.Series(mine)), pattern, mta)
        outcome[kept] = EVENT_ROW
        pieces.append(events)
    return pl.concat(pieces, how="vertical") if pieces else _empty_events()


def anchored(pattern: LinePattern) -> str:
    """The pattern's regex as the line engine applies it (regex.match): anchored at the start."""
    return "^(?:" + pattern.regex.pattern + ")"


def _events_of(frame: pl.DataFrame, pattern: LinePattern, mta: str) -> tuple[pl.DataFrame, np.ndarray]:
    """The events of the rows one pattern matched, and which rows they are (the others go to the line
    engine: see _suspicious)."""
    groups = frame["message"].str.extract_groups(anchored(pattern)).struct.unnest()
    # As the line engine's dict of groups: a field read by several groups takes the last one present.
    by_field: dict[str, list[str]] = {}
    for name in groups.columns:
        by_field.setdefault(field_of_group(name), []).append(name)
    columns = [pl.coalesce(*[pl.col(name) for name in reversed(names)]).alias(name)
               for name, names in by_field.items() if name in PATTERN_GROUPS]
    fields = groups.select(columns) if columns else pl.DataFrame(height=len(frame))
    fields = fields.with_columns(*(pl.lit(None, pl.String).alias(name) for name in FIELDS
                                   if name not in fields.columns))
    frame = pl.concat([frame.select("row", "ts", "host", "program", "pid", "service", "message"), fields],
                      how="horizontal")
    frame = _normalise(frame, pattern)
    suspicious = _suspicious(frame, pattern)
    if suspicious is not None:
        frame = frame.filter(~suspicious)
    finish = PARSERS[mta].finish_frame
    if finish is not None:
        frame = finish(frame, pattern)
    kept = frame["row"].unique().to_numpy()
    return frame.with_columns(pl.lit(mta).alias("mta")).select(EVENT_COLUMNS), kept


def _normalise(frame: pl.DataFrame, pattern: LinePattern) -> pl.DataFrame:
    """engine.MtaParser._normalise, as columns."""
    c = pl.col
    default = (pattern.kind or Kind.OTHER).value
    kind = (pl.when(c("status").is_null()).then(pl.lit(pattern.kind.value if pattern.kind else None, pl.String))
            .otherwise(c("status").str.to_lowercase().replace_strict(STATUS_VALUES, default=default,
                                                                     return_dtype=pl.String)))
    frame = frame.with_columns(
        kind.alias("kind"),
        pl.lit(pattern.direction.value if pattern.direction else None, pl.String).alias("direction"),
        pl.when(c("queue_id") == "NOQUEUE").then(None).otherwise(c("queue_id")).alias("queue_id"),
        pl.lit(False).alias("code_inferred"),
    )
    text, code = c("reply_text"), c("reply_code")
    if pattern.reply_codes:
        split = split_reply(frame["reply_text"])
        quoted = split["host"].is_not_null() if pattern.direction is Direction.INBOUND else pl.lit(False)
        taken = split["code"].is_not_null() & ~quoted & code.is_null() & text.is_not_null()
        split_text = pl.when(quoted).then(text).otherwise(split["rest"])
        frame = frame.with_columns(
            pl.when(taken).then(split["code"]).otherwise(code).alias("reply_code"),
            pl.when(taken).then(pl.coalesce(c("enhanced_code"), split["enhanced"]))
            .otherwise(c("enhanced_code")).alias("enhanced_code"),
            pl.when(taken & split["host"].is_not_null() & c("relay_host").is_null()).then(split["ip"])
            .otherwise(c("relay_ip")).alias("relay_ip"),
            pl.when(taken & c("relay_host").is_null()).then(split["host"]).otherwise(c("relay_host"))
            .alias("relay_host"),
            pl.when(text.is_not_null() & code.is_null()).then(pl.coalesce(c("command"), split["command"]))
            .otherwise(c("command")).alias("command"),
            pl.when(text.is_not_null() & code.is_not_null())
            .then(drop_continuations(text, code, c("enhanced_code")))
            .when(text.is_not_null()).then(split_text).otherwise(text).alias("reply_text"),
        )
    else:
        frame = frame.with_columns(pl.when(text.is_not_null() & code.is_not_null())
                                   .then(drop_continuations(text, code, c("enhanced_code")))
                                   .otherwise(text).alias("reply_text"))
    frame = frame.with_columns(pl.coalesce(c("dsn"), c("enhanced_code")).alias("enhanced_code"))
    if pattern.infer_reply_code:
        missing = c("reply_code").is_null()
        frame = frame.with_columns(
            pl.when(missing).then(pl.lit(pattern.infer_reply_code)).otherwise(c("reply_code")).alias("reply_code"),
            missing.alias("code_inferred"),
            (pl.when(missing).then(pl.coalesce(c("enhanced_code"), pl.lit(pattern.infer_enhanced_code)))
             .otherwise(c("enhanced_code")) if pattern.infer_enhanced_code else c("enhanced_code"))
            .alias("enhanced_code"),
        )
    # Whether the line named the relay's address at all (relay_given): the finishers ask, as the line
    # engine's ask whether the key is there, whatever the address normalises to.
    frame = frame.with_columns(c("relay_ip").is_not_null().alias("relay_given"))
    frame = frame.with_columns(*(normalised_ips(frame[name]).alias(name) for name in ("client_ip", "relay_ip")))
    return frame.with_columns(
        *(pl.when(c(name).is_in(["", "unknown"])).then(None).otherwise(c(name)).alias(name)
          for name in ("client_host", "relay_host")),
        pl.when(c("reply_text") == "").then(None).otherwise(c("reply_text")).alias("reply_text"),
    )


def split_reply(texts: pl.Series) -> pl.DataFrame:
    """engine.split_reply() as columns: code, enhanced, rest (the text after the reply's start, without
    continuation prefixes), bare (the text without its "(in reply to ...)" tail), command, host, ip."""
    frame = pl.DataFrame({"text": texts})
    c = pl.col
    has_tail = c("text").str.ends_with(")") & c("text").str.contains(" (in reply to ", literal=True)
    frame = frame.with_columns(pl.when(has_tail).then(c("text").str.extract(_TAIL, 1)).alias("command"))
    frame = frame.with_columns(pl.when(c("command").is_not_null()).then(c("text").str.replace(_TAIL, ""))
                               .otherwise(c("text")).alias("bare"))
    start = frame["bare"].str.extract_groups(_START).struct.unnest()
    frame = pl.concat([frame, start], how="horizontal")
    rest = c("bare").str.replace(_START, "")
    return frame.with_columns(
        pl.when(c("code").is_not_null()).then(drop_continuations(rest, c("code"), c("enhanced")))
        .otherwise(c("bare")).alias("rest"))


def drop_continuations(text: pl.Expr, code: pl.Expr, enhanced: pl.Expr) -> pl.Expr:
    """engine.drop_continuations() as an expression."""
    def literal(*parts: pl.Expr | str) -> pl.Expr:
        # A row without a code gets a text no bulk line holds: polars refuses a null pattern.
        return pl.concat_str([pl.lit(part) if isinstance(part, str) else part for part in parts]).fill_null("\x00")
    # Python's f"{code} {enhanced}" reads "550 None" without an enhanced code: the same test here.
    repeated = (text.str.contains(literal(code, "-"), literal=True)
                | text.str.contains(literal(code, " ", enhanced.fill_null("None")), literal=True))
    with_enhanced = (text.str.replace_all(literal(code, "-", enhanced, " "), "", literal=True)
                     .str.replace_all(literal(code, " ", enhanced, " "), "", literal=True))
    without = text.str.replace_all(literal(code, "-"), "", literal=True)
    dropped = pl.when(enhanced.is_not_null()).then(with_enhanced).otherwise(without)
    return pl.when(repeated).then(dropped).otherwise(text).str.strip_chars()


def normalised_ips(values: pl.Series) -> pl.Series:
    """normalise_ip() of each value, computed once per distinct value."""
    distinct = values.drop_nulls().unique().to_list()
    if not distinct:
        return values
    mapping = {value: normalise_ip(value) for value in distinct}
    return values.replace_strict(mapping, default=None, return_dtype=pl.String)


def _suspicious(frame: pl.DataFrame, pattern: LinePattern) -> pl.Series | None:
    """Rows in which a client_once or reply_once marker may have been forged: a marker twice, or once
    before an address other than the client's. The line engine decides these (engine._forged_client)."""
    markers = set(pattern.client_once) | set(pattern.reply_once)
    if not markers:
        return None
    message = frame["message"]
    found = pl.Series([False] * len(frame))
    for marker in markers:
        count = message.str.count_matches(marker, literal=True)
        found = found | (count > 1)
        if marker.endswith("[") and marker in pattern.client_once:
            address = message.str.extract(address_after(marker), 1)
            address = normalised_ips(address)
            other = address.is_not_null() & (frame["client_ip"].is_null() | (address != frame["client_ip"]))
            found = found | ((count == 1) & other.fill_null(True))
    return found


EVENT_COLUMNS = ("row", "ts", "host", "mta", "program", "pid", "queue_id", "kind", "direction", "client_host",
                 "client_ip", "relay_host", "relay_ip", "sender", "recipient", "command", "reply_code",
                 "enhanced_code", "code_inferred", "reply_text", "sasl_method", "sasl_username")
# The columns of an EventBatch: every Event field but the time stamp (beside the frame) and the file.
BATCH_COLUMNS = EVENT_COLUMNS[2:] + ("line_no",)
_KIND, _DIRECTION = BATCH_COLUMNS.index("kind"), BATCH_COLUMNS.index("direction")
_SCHEMA = {name: pl.Int64 if name in ("row", "line_no") else pl.Boolean if name == "code_inferred" else pl.String
           for name in EVENT_COLUMNS + ("line_no",)}


def _empty_events() -> pl.DataFrame:
    return pl.DataFrame(schema={name: _SCHEMA[name] for name in EVENT_COLUMNS})


@dataclass(slots=True)
class EventBatch:
    """Events as columns (BATCH_COLUMNS, kind and direction as their values), in input order, with each
    event's time stamp (a datetime or None) in `stamps`, and the input they were read from."""

    frame: pl.DataFrame
    stamps: list
    file: str | None

    def events(self) -> Iterator[Event]:
        columns = [self.frame[name].to_list() for name in BATCH_COLUMNS]
        for index, values in ((_KIND, KINDS), (_DIRECTION, DIRECTIONS)):
            columns[index] = [None if value is None else values[value] for value in columns[index]]
        file = self.file
        for stamp, row in zip(self.stamps, zip(*columns)):
            yield Event(stamp, *row[:-1], file, row[-1])


KINDS = {kind.value: kind for kind in Kind}
DIRECTIONS = {direction.value: direction for direction in Direction}


def batch_of_events(events: list[Event], file: str | None) -> EventBatch:
    """Events read line by line (the line engine, a journal) as a batch."""
    columns = {name: [getattr(event, name) for event in events] for name in BATCH_COLUMNS}
    for name in ("kind", "direction"):
        columns[name] = [None if value is None else value.value for value in columns[name]]
    frame = pl.DataFrame(columns, schema={name: _SCHEMA[name] for name in BATCH_COLUMNS})
    return EventBatch(frame, [event.timestamp for event in events], file)


def assemble_batch(bulk: pl.DataFrame, bulk_order: list[int], line_nos: list[int], others: list[Event],
                   other_order: list[int], stamps: list, file: str | None) -> EventBatch:
    """One block's events in input order: those parsed here (`bulk`, in row order, each taking its place
    from `bulk_order`, with its line number) and those of the line engine (`others`)."""
    frame = bulk.drop("row", "ts").with_columns(pl.Series("line_no", line_nos, dtype=pl.Int64),
                                                pl.Series("_order", bulk_order, dtype=pl.Int64))
    if others:
        other = batch_of_events(others, file).frame.with_columns(pl.Series("_order", other_order, dtype=pl.Int64))
        frame = pl.concat([frame.select(other.columns), other], how="vertical").sort("_order")
    return EventBatch(frame.drop("_order").select(BATCH_COLUMNS), stamps, file)
