"""Streaming summaries: everything the reports need, kept in memory bounded by the summaries, not the log.

Events are folded in one at a time and never kept. Two structures keep memory bounded where exact answers
would not be:
- DistinctCounter counts distinct values exactly up to EXACT_DISTINCT, then estimates them from the
  K smallest 64-bit hashes (a KMV sketch: relative error about 1/sqrt(K), 1.6% for K = 4096);
- TopCounter counts keys exactly up to TOP_CAPACITY keys; beyond that it keeps the TOP_CAPACITY largest
  counts and drops the rest, so the counts it reports are exact or, for a key that was dropped and came
  back, lower bounds; `approximate` says when that happened.
Both merge, so partial summaries from several processes add up to the summary of the whole input.
"""
from __future__ import annotations

import hashlib
import heapq
from array import array
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from .classify import Classification, Classifier
from .events import Event, Kind
from .timestamps import ONE_DAY

EXACT_DISTINCT = 4096
SKETCH_SIZE = 4096
TOP_CAPACITY = 20_000
HASH_SPACE = float(2 ** 64)


def stable_hash(value: str) -> int:
    """The same 64-bit hash in every process (Python's own str hash is salted per process)."""
    return int.from_bytes(hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


class DistinctCounter:
    """Count of distinct strings: exact up to EXACT_DISTINCT, then a K-minimum-values estimate.

    The state is one of: the values themselves (while the counter fills); their 64-bit hashes (an exact
    counter that was packed and then given more values); the sketch, a max-heap of the K smallest hashes
    with the same hashes as a set; or, once packed, the exact hashes or the sketch as a sorted array of
    8 bytes a hash. A report row whose day is over is packed: a value costs 8 bytes instead of about 100,
    so memory grows little with the number of days a run covers. Packing never changes a count (two
    values with one 64-bit hash are as unlikely as anything can be).
    """

    __slots__ = ("values", "hashed", "hashes", "members", "packed", "packed_sketch")

    def __init__(self) -> None:
        self.values: set[str] | None = set()
        self.hashed: set[int] | None = None
        self.hashes: list[int] | None = None  # the sketch: max-heap (negated) of the K smallest hashes
        self.members: set[int] | None = None  # the same hashes, for membership tests
        self.packed: array | None = None
        self.packed_sketch = False

    def add(self, value: str | None) -> None:
        if value is None:
            return
        values = self.values
        if values is not None:
            values.add(value)
            if len(values) > EXACT_DISTINCT:
                self._to_sketch()
            return
        self._add_hashed(stable_hash(value))

    def _add_hashed(self, hashed: int) -> None:
        if self.packed is not None:
            self._unpack()
        if self.values is not None:
            self._hash_values()
        if self.hashed is not None:
            self.hashed.add(hashed)
            if len(self.hashed) > EXACT_DISTINCT:
                self._to_sketch()
            return
        self._add_hash(hashed)

    def _hash_values(self) -> None:
        self.hashed, self.values = {stable_hash(value) for value in self.values}, None

    def _to_sketch(self) -> None:
        if self.packed is not None:
            self._unpack()
        if self.hashes is not None:
            return
        if self.values is not None:
            self._hash_values()
        exact, self.hashed, self.hashes, self.members = self.hashed, None, [], set()
        for hashed in exact:
            self._add_hash(hashed)

    def _add_hash(self, hashed: int) -> None:
        heap, members = self.hashes, self.members
        if hashed in members:
            return
        if len(heap) < SKETCH_SIZE:
            heapq.heappush(heap, -hashed)
            members.add(hashed)
        elif hashed < -heap[0]:
            members.discard(-heapq.heapreplace(heap, -hashed))
            members.add(hashed)

    def pack(self) -> None:
        """Keep the hashes only, sorted, 8 bytes each; the counter still counts, merges and takes values."""
        if self.packed is not None:
            return
        if self.hashes is not None:
            self.packed, self.packed_sketch = array("Q", sorted(self.members)), True
            self.hashes = self.members = None
            return
        if self.values is not None:
            self._hash_values()
        self.packed, self.packed_sketch, self.hashed = array("Q", sorted(self.hashed)), False, None

    def _unpack(self) -> None:
        packed, self.packed = self.packed, None
        if self.packed_sketch:
            self.members = set(packed)
            self.hashes = [-hashed for hashed in packed]
            heapq.heapify(self.hashes)
        else:
            self.hashed = set(packed)

    @property
    def exact(self) -> bool:
        return self.hashes is None and not (self.packed is not None and self.packed_sketch)

    def count(self) -> int:
        if self.values is not None:
            return len(self.values)
        if self.hashed is not None:
            return len(self.hashed)
        if self.packed is not None:
            if not self.packed_sketch or len(self.packed) < SKETCH_SIZE:
                return len(self.packed)
            return round((SKETCH_SIZE - 1) / (self.packed[-1] / HASH_SPACE))
        if len(self.hashes) < SKETCH_SIZE:
            return len(self.hashes)
        return round((SKETCH_SIZE - 1) / (-self.hashes[0] / HASH_SPACE))

    def merge(self, other: DistinctCounter) -> None:
        if other.values is not None:
            for value in other.values:
                self.add(value)
            return
        if other.exact:
            for hashed in (other.hashed if other.hashed is not None else other.packed):
                self._add_hashed(hashed)
            return
        self._to_sketch()
        for hashed in (other.packed if other.packed is not None else other.members):
            self._add_hash(hashed)


class TopCounter:
    """Counts per key with at most TOP_CAPACITY keys kept (see the module docstring), plus a payload each."""

    __slots__ = ("counts", "payloads", "approximate", "capacity")

    def __init__(self, capacity: int = TOP_CAPACITY):
        self.counts: dict[str, int] = {}
        self.payloads: dict[str, object] = {}
        self.approximate = False
        self.capacity = capacity

    def add(self, key: str, amount: int = 1) -> None:
        counts = self.counts
        counts[key] = counts.get(key, 0) + amount
        if len(counts) > 2 * self.capacity:
            self._prune()

    def payload(self, key: str, factory):
        """The payload of a kept key (created by `factory` on first use); None for a dropped key."""
        found = self.payloads.get(key)
        if found is None and key in self.counts:
            found = self.payloads[key] = factory()
        return found

    def _prune(self) -> None:
        keep = heapq.nlargest(self.capacity, self.counts.items(), key=lambda item: item[1])
        self.counts = dict(keep)
        self.payloads = {k: v for k, v in self.payloads.items() if k in self.counts}
        self.approximate = True

    def most_common(self, top: int) -> list[tuple[str, int]]:
        return sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))[:top]

    def merge(self, other: TopCounter, merge_payload) -> None:
        for key, amount in other.counts.items():
            self.add(key, amount)
            theirs = other.payloads.get(key)
            if theirs is not None and key in self.counts:
                mine = self.payloads.get(key)
                self.payloads[key] = theirs if mine is None else merge_payload(mine, theirs)
        self.approximate = self.approximate or other.approximate


@dataclass(slots=True)
class DailyRow:
    """One row of the daily report while it is being counted."""

    direction: str | None = None
    category: str | None = None
    count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    example: str | None = None
    clients: DistinctCounter = field(default_factory=DistinctCounter)
    senders: DistinctCounter = field(default_factory=DistinctCounter)
    recipients: DistinctCounter = field(default_factory=DistinctCounter)

    def merge(self, other: DailyRow) -> None:
        self.direction = self.direction or other.direction
        self.category = self.category or other.category
        self.count += other.count
        if other.first_seen is not None and (self.first_seen is None or other.first_seen < self.first_seen):
            self.first_seen = other.first_seen
            self.example = other.example or self.example
        elif self.example is None:
            self.example = other.example
        if other.last_seen is not None and (self.last_seen is None or other.last_seen > self.last_seen):
            self.last_seen = other.last_seen
        self.clients.merge(other.clients)
        self.senders.merge(other.senders)
        self.recipients.merge(other.recipients)


@dataclass(slots=True)
class AuthSource:
    usernames: DistinctCounter = field(default_factory=DistinctCounter)
    first_seen: datetime | None = None
    last_seen: datetime | None = None

    def merge(self, other: AuthSource) -> AuthSource:
        self.usernames.merge(other.usernames)
        self.first_seen = earliest(self.first_seen, other.first_seen)
        self.last_seen = latest(self.last_seen, other.last_seen)
        return self


def earliest(*moments: datetime | None) -> datetime | None:
    present = [m for m in moments if m is not None]
    return min(present) if present else None


def latest(*moments: datetime | None) -> datetime | None:
    present = [m for m in moments if m is not None]
    return max(present) if present else None


def _merge_counters(mine: Counter, theirs: Counter) -> Counter:
    mine.update(theirs)
    return mine


NO_VALUE = "-"
KIND_VALUES = {kind: kind.value for kind in Kind}
FAILED_DELIVERIES = frozenset({Kind.BOUNCED, Kind.DEFERRED, Kind.EXPIRED})
# Kinds with a section of their own beyond the counts: rejected clients, failing domains, auth sources.
WATCHED_KINDS = FAILED_DELIVERIES | {Kind.REJECTED, Kind.AUTH_FAILURE}


# The columnar fold: a whole frames.EventBatch at once, with the result Summary.add gives event by event.
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)
DAILY_KEY = ("day", "host", "mta", "kind", "reply_code", "enhanced_code", "entry_id")
WATCHED_VALUES = [kind.value for kind in WATCHED_KINDS]
KINDS = {kind.value: kind for kind in Kind}


@dataclass(slots=True)
class Summary:
    """Everything analyze and report print, folded from a stream of classified events."""

    daily: dict[tuple, DailyRow] = field(default_factory=dict)
    kinds: Counter = field(default_factory=Counter)          # (mta, host, kind)
    codes: Counter = field(default_factory=Counter)          # (reply_code, enhanced_code, entry_id)
    coded_events: int = 0
    text_matched: int = 0
    rejected_clients: TopCounter = field(default_factory=TopCounter)    # ip -> Counter(entry)
    failing_domains: TopCounter = field(default_factory=TopCounter)     # domain -> Counter(kind/entry)
    auth_sources: TopCounter = field(default_factory=TopCounter)        # ip -> AuthSource
    events: int = 0
    # The date of the last event and its ISO text: events come in time order, so one day's text serves
    # thousands of events.
    _day: object = field(default=None, compare=False, repr=False)
    _day_text: str = field(default="", compare=False, repr=False)
    # Rows not packed yet, by date: when the events reach a new day, the rows of days before the one
    # before it are packed (see DistinctCounter); a late line for them still counts, just unpacked.
    _open_rows: dict = field(default_factory=dict, compare=False, repr=False)

    def add(self, event: Event, found: Classification) -> None:
        self.events += 1
        event_kind = event.kind
        kind = KIND_VALUES.get(event_kind, NO_VALUE)
        host = event.host or NO_VALUE
        reply_code = event.reply_code or NO_VALUE
        enhanced_code = event.enhanced_code or NO_VALUE
        entry_id = found.entry_id or NO_VALUE
        self.kinds[event.mta, host, kind] += 1
        if event.reply_code or event.enhanced_code:
            self.coded_events += 1
            self.codes[reply_code, enhanced_code, entry_id] += 1
            if found.matched_by == "text":
                self.text_matched += 1
        stamp = event.timestamp
        if stamp is not None:
            day = stamp.date()
            if day != self._day:
                self._day, self._day_text = day, day.isoformat()
                if day != day.min:  # a line can say 0001-01-01: there is no day before it
                    self._pack_rows_before((day - ONE_DAY).isoformat())
            key = (self._day_text, host, event.mta, kind, reply_code, enhanced_code, entry_id)
            row = self.daily.get(key)
            text = event.reply_text
            if row is None:
                direction = event.direction
                row = self.daily[key] = DailyRow(direction.value if direction else None, found.category, 0,
                                                  stamp, stamp, text)
                self._open_rows.setdefault(self._day_text, []).append(row)
            row.count += 1
            if stamp < row.first_seen:
                row.first_seen = stamp
                if text:  # the example is the earliest reply text the row has
                    row.example = text
            elif stamp > row.last_seen:
                row.last_seen = stamp
            if text and row.example is None:
                row.example = text
            if event.client_ip is not None:
                row.clients.add(event.client_ip)
            if event.sender is not None:
                row.senders.add(event.sender)
            if event.recipient is not None:
                row.recipients.add(event.recipient)
        if event_kind in WATCHED_KINDS:
            self._add_watched(event_kind, kind, entry_id, stamp, event.client_ip, event.recipient,
                              event.sasl_username)

    def _pack_rows_before(self, date_text: str) -> None:
        for date in [date for date in self._open_rows if date < date_text]:
            for row in self._open_rows.pop(date):
                row.clients.pack()
                row.senders.pack()
                row.recipients.pack()

    def _add_watched(self, event_kind: Kind, kind: str, entry_id: str, stamp, client_ip: str | None,
                     recipient: str | None, sasl_username: str | None) -> None:
        if event_kind is Kind.REJECTED and client_ip:
            self.rejected_clients.add(client_ip)
            entries = self.rejected_clients.payload(client_ip, Counter)
            if entries is not None:
                entries[entry_id] += 1
        if event_kind in FAILED_DELIVERIES and recipient:
            domain = recipient.rsplit("@", 1)[-1].lower()
            self.failing_domains.add(domain)
            detail = self.failing_domains.payload(domain, Counter)
            if detail is not None:
                detail["kind:" + kind] += 1
                detail["entry:" + entry_id] += 1
        if event_kind is Kind.AUTH_FAILURE and client_ip:
            self.auth_sources.add(client_ip)
            source = self.auth_sources.payload(client_ip, AuthSource)
            if source is not None:
                source.usernames.add(sasl_username)
                source.first_seen = earliest(source.first_seen, stamp)
                source.last_seen = latest(source.last_seen, stamp)

    def add_batch(self, batch, frame) -> None:
        """Summary.add for every event of a batch (`frame`: classified(batch)); see the comments for why each
        part gives what the event-by-event fold gives."""
        import polars as pl
        c = pl.col
        stamps = batch.stamps
        self.events += frame.height
        dashed = [c(name).fill_null(NO_VALUE) for name in ("host", "kind", "reply_code", "enhanced_code", "entry_id")]
        frame = frame.with_columns(dashed)
        for mta, host, kind, count in frame.group_by("mta", "host", "kind").len().iter_rows():
            self.kinds[mta, host, kind] += count
        coded = frame.filter((c("reply_code") != NO_VALUE) | (c("enhanced_code") != NO_VALUE))
        self.coded_events += coded.height
        self.text_matched += coded.filter(c("matched_by") == "text").height
        for reply_code, enhanced_code, entry_id, count in coded.group_by(
                "reply_code", "enhanced_code", "entry_id").len().iter_rows():
            self.codes[reply_code, enhanced_code, entry_id] += count
        self._fold_daily(frame, stamps)
        watched = frame.filter(c("kind").is_in(WATCHED_VALUES))
        for pos, kind, entry_id, client_ip, recipient, username in watched.select(
                "pos", "kind", "entry_id", "client_ip", "recipient", "sasl_username").iter_rows():
            self._add_watched(KINDS[kind], kind, entry_id, stamps[pos], client_ip, recipient, username)

    def _fold_daily(self, frame, stamps: list) -> None:
        import polars as pl
        c = pl.col
        days, instants = _stamp_columns(stamps)
        frame = frame.with_columns(pl.Series("day", days, dtype=pl.String), pl.Series("instant", instants,
                                                                                       dtype=pl.Int64))
        frame = frame.filter(c("day").is_not_null())
        if not frame.height:
            return
        key = list(DAILY_KEY)
        # A row's first_seen and example change only at an event earlier than every one before it (or the
        # first with a text, while the row has none): within the batch, those are the events earlier than all
        # before them in the batch, and the first with a text. Those few are folded one by one, in order.
        # (Earlier by instant: Summary.add compares stamps of one zone by wall clock, which differs only in
        # the hour that the end of DST repeats.)
        earlier = c("instant").cum_min().shift(1).over(key)
        texts = c("reply_text").is_not_null()
        turning = frame.filter(earlier.is_null() | (c("instant") < earlier)
                               | (texts & (texts.cast(pl.Int64).cum_sum().over(key) == 1)))
        daily, open_rows = self.daily, self._open_rows
        for row_values in turning.select(*key, "pos", "direction", "category", "reply_text").iter_rows():
            row_key, (pos, direction, category, text) = row_values[:7], row_values[7:]
            stamp = stamps[pos]
            row = daily.get(row_key)
            if row is None:
                row = daily[row_key] = DailyRow(direction, category, 0, stamp, stamp, text)
                open_rows.setdefault(row_key[0], []).append(row)
            elif stamp < row.first_seen:
                row.first_seen = stamp
                if text:
                    row.example = text
            if text and row.example is None:
                row.example = text
        # The rest adds up: counts, the latest time (the first event at the batch's latest instant, compared
        # with the row's as Summary.add compares), and the distinct values.
        grouped = frame.group_by(key).agg(
            pl.len().alias("count"),
            c("pos").filter(c("instant") == c("instant").max()).first().alias("last"),
            c("client_ip").drop_nulls().unique().alias("clients"),
            c("sender").drop_nulls().unique().alias("senders"),
            c("recipient").drop_nulls().unique().alias("recipients"))
        for values in grouped.iter_rows():
            row = daily[values[:7]]
            count, last, clients, senders, recipients = values[7:]
            row.count += count
            if stamps[last] > row.last_seen:
                row.last_seen = stamps[last]
            for value in clients:
                row.clients.add(value)
            for value in senders:
                row.senders.add(value)
            for value in recipients:
                row.recipients.add(value)
        last_day = stamps[frame["pos"][-1]].date()
        if last_day != self._day:
            self._day, self._day_text = last_day, last_day.isoformat()
            if last_day != last_day.min:
                self._pack_rows_before((last_day - ONE_DAY).isoformat())

    def merge(self, other: Summary) -> None:
        """Fold in a summary of another part of the input (another file, another process)."""
        self.events += other.events
        for key, row in other.daily.items():
            mine = self.daily.get(key)
            if mine is None:
                self.daily[key] = row
            else:
                mine.merge(row)
        self.kinds.update(other.kinds)
        self.codes.update(other.codes)
        self.coded_events += other.coded_events
        self.text_matched += other.text_matched
        self.rejected_clients.merge(other.rejected_clients, _merge_counters)
        self.failing_domains.merge(other.failing_domains, _merge_counters)
        self.auth_sources.merge(other.auth_sources, AuthSource.merge)


def summarise(events, classifier: Classifier) -> Summary:
    """The Summary of a stream of events."""
    summary = Summary()
    add = summary.add
    for event in events:
        add(event, classifier(event))
    return summary


def per_day_counts(summary: Summary) -> dict[tuple[str, str], int]:
    """(date, kind) -> events."""
    days: dict[tuple[str, str], int] = defaultdict(int)
    for key, row in summary.daily.items():
        days[key[0], key[3]] += row.count
    return days


def classified(batch, classifier: Classifier):
    """The batch's frame with each event's classification (entry_id, category, matched_by) and its position
    (pos), looked up once per distinct (codes, kind, relevant text)."""
    import polars as pl
    c = pl.col
    code = pl.coalesce(c("reply_code"), c("enhanced_code"))
    # Classifier.relevant_text as a column: a distinct key per success text would defeat the lookup.
    relevant = (c("reply_text") if classifier.catalogue.rules_for_success
                else pl.when(code.str.starts_with("2")).then(None).otherwise(c("reply_text")))
    frame = batch.frame.with_columns(relevant.alias("_text"), pl.int_range(pl.len()).alias("pos"))
    keys = ["reply_code", "enhanced_code", "kind", "_text"]
    distinct = frame.select(keys).unique()
    found = [classifier.lookup(reply_code, enhanced_code, KINDS.get(kind), text)
             for reply_code, enhanced_code, kind, text in distinct.iter_rows()]
    answers = distinct.with_columns(pl.Series("entry_id", [f.entry_id for f in found], dtype=pl.String),
                                    pl.Series("category", [f.category for f in found], dtype=pl.String),
                                    pl.Series("matched_by", [f.matched_by for f in found], dtype=pl.String))
    return frame.join(answers, on=keys, how="left", nulls_equal=True, maintain_order="left").drop("_text")


_NO_STAMP = object()


def _stamp_columns(stamps: list) -> tuple[list, list]:
    """Each stamp's date text (the row's day, as Summary.add takes it) and its instant in microseconds
    (to order events within a batch), worked out once per distinct stamp object."""
    days: list = []
    instants: list = []
    last, cached = _NO_STAMP, (None, None)
    for stamp in stamps:
        if stamp is not last:
            last = stamp
            cached = (None, None) if stamp is None else (stamp.date().isoformat(), (stamp - _EPOCH) // _MICROSECOND)
        days.append(cached[0])
        instants.append(cached[1])
    return days, instants
