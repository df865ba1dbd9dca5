"""Authentication-failure spikes: windows that stand out from a robust baseline, and per-address offenders.

A failure is an auth_failure event, or a refusal whose catalogue category is `auth` (530, 534, 535, 538
and their enhanced codes). Failures are counted per host in fixed windows (gaps count as zero).
A window is a spike when its count is at least `min_count` and exceeds the median of the trailing
`baseline` of windows by more than `threshold` times a spread: the scaled median absolute deviation
(MAD x 1.4826), but at least sqrt(median) (counts vary like Poisson counts even when the history is
flat) and at least 1 (so that a history of zeros still needs `min_count`). With less than an hour of history,
a window must also be `early_factor` times the largest window seen so far; the first window of a host
is never a spike, since nothing says what is normal there. Adjacent spike windows form one spike.
"""
from __future__ import annotations

import bisect
import heapq
import math
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import chain

from .aggregate import DistinctCounter, Summary, TopCounter, earliest, latest
from .classify import Classifier
from .errors import UsageError
from .events import Event, Kind
from .timestamps import parse_age, quoted

MAD_SCALE = 1.4826  # makes the MAD comparable to a standard deviation for normal data
MIN_HISTORY = timedelta(hours=1)
WINDOW_TOP_CAPACITY = 500  # addresses and user names counted per window, for a spike's top lists
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
FIRST_MOMENT = datetime.min.replace(tzinfo=timezone.utc)
LAST_MOMENT = datetime.max.replace(tzinfo=timezone.utc)
# Longer windows or baselines than this say nothing about a mail server, and window arithmetic on them
# could pass the ends of datetime's range.
MAX_DURATION = timedelta(days=3650)
# A host's series lists its empty windows too while they are at most this many times its windows with
# failures (or few in all): a chart then shows the quiet times, and memory stays in step with the failures.
DENSE_SERIES_FACTOR = 8
DENSE_SERIES_FLOOR = 4096


@dataclass(frozen=True, slots=True)
class SpikeSettings:
    window: timedelta = timedelta(minutes=10)
    baseline: timedelta = timedelta(hours=24)
    threshold: float = 5.0
    min_count: int = 10
    per_ip: int = 5
    early_factor: float = 3.0
    top: int = 5

    def __post_init__(self) -> None:
        for name in ("window", "baseline"):
            span = getattr(self, name)
            if not timedelta(0) < span <= MAX_DURATION:
                raise UsageError(f"{name} {span} is out of range: more than zero and at most "
                                 f"{MAX_DURATION.days} days")
        # nan compares false with every score, so no window would ever be a spike, and nobody would know
        if not (math.isfinite(self.threshold) and self.threshold >= 0):
            raise UsageError(f"--threshold {self.threshold:g}: give a number of scaled MADs, 0 or more")


@dataclass(slots=True)
class Failure:
    timestamp: datetime
    host: str
    client_ip: str | None
    username: str | None


@dataclass(slots=True)
class WindowCount:
    start: datetime
    failures: int
    baseline: float = 0.0
    score: float = 0.0
    spike: bool = False


@dataclass(slots=True)
class Spike:
    host: str
    start: datetime
    end: datetime
    failures: int
    baseline: float
    score: float
    distinct_ips: int
    top_ips: list[tuple[str, int]]
    top_usernames: list[tuple[str, int]]
    shape: str

    def record(self) -> dict:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "failures": self.failures,
                "baseline": round(self.baseline, 2), "score": round(self.score, 2),
                "distinct_ips": self.distinct_ips, "top_ips": [[ip, n] for ip, n in self.top_ips],
                "top_usernames": [[u, n] for u, n in self.top_usernames], "shape": self.shape, "host": self.host}


@dataclass(slots=True)
class Offender:
    client_ip: str
    host: str
    max_in_window: int
    failures: int
    first_seen: datetime
    last_seen: datetime
    usernames: int

    def record(self) -> dict:
        return {"client_ip": self.client_ip, "host": self.host, "max_in_window": self.max_in_window,
                "failures": self.failures, "first_seen": self.first_seen.isoformat(),
                "last_seen": self.last_seen.isoformat(), "usernames": self.usernames}


@dataclass(slots=True)
class SpikeReport:
    settings: SpikeSettings
    spikes: list[Spike] = field(default_factory=list)
    offenders: list[Offender] = field(default_factory=list)
    # Per host, in time order: every window from its first to its last, or, when the empty ones would be
    # far more than those with failures (DENSE_SERIES_FACTOR), only the windows with failures.
    windows: dict[str, list[WindowCount]] = field(default_factory=dict)
    failures: int = 0
    failures_without_time: int = 0  # failures whose line had no usable time: in no window


def parse_duration(text: str) -> timedelta:
    """'10m', '1h', '24h', '2d', '90s' -> timedelta."""
    try:
        age = parse_age(text.strip().lower(), {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"})
    except UsageError:  # beyond what timedelta holds
        age = timedelta.max
    if age is not None and age > MAX_DURATION:
        raise UsageError(f"duration {quoted(text)} is too long: at most {MAX_DURATION.days}d")
    if age:  # a zero duration is no window
        return age
    raise UsageError(f"cannot read duration {quoted(text)}: use a number and a unit, such as 10m, 1h, 24h, 2d")


class FailureTally:
    """Failures folded per host and window, in memory bounded by the number of windows, not of failures.

    Each window keeps its count and bounded counters of addresses and user names (enough for a spike's
    top lists); each address keeps at most 2 x per_ip timestamps, enough to find `per_ip` failures
    within one window when the input is in time order (rotated sets are read oldest first).
    """

    def __init__(self, settings: SpikeSettings):
        self.settings = settings
        self.failures = 0
        self.failures_without_time = 0
        self.windows: dict[str, dict[datetime, WindowStats]] = defaultdict(dict)
        self.sources: dict[str, TopCounter] = defaultdict(TopCounter)

    def add(self, failure: Failure) -> None:
        self.failures += 1
        start = window_start(failure.timestamp, self.settings.window)
        stats = self.windows[failure.host].get(start)
        if stats is None:
            stats = self.windows[failure.host][start] = WindowStats()
        stats.count += 1
        if failure.client_ip:
            stats.ips.add(failure.client_ip)
            stats.distinct_ips.add(failure.client_ip)
            sources = self.sources[failure.host]
            sources.add(failure.client_ip)
            source = sources.payload(failure.client_ip, SourceState)
            if source is not None:
                source.add(failure, self.settings)
        if failure.username:
            stats.usernames.add(failure.username)

    def merge(self, other: FailureTally) -> None:
        """Fold in the tally of another part of the input (another file, range or process)."""
        self.failures += other.failures
        self.failures_without_time += other.failures_without_time
        for host, windows in other.windows.items():
            mine = self.windows[host]
            for start, stats in windows.items():
                if start in mine:
                    mine[start].merge(stats)
                else:
                    mine[start] = stats
        for host, sources in other.sources.items():
            self.sources[host].merge(sources, lambda mine, theirs: mine.merge(theirs, self.settings))

    def add_batch(self, batch, frame) -> FailureTally:
        """add_event for every event of a frames.EventBatch (`frame`: aggregate.classified(batch)), in order."""
        import polars as pl
        kind = pl.col("kind")
        failing = frame.filter((kind == Kind.AUTH_FAILURE.value)
                               | ((kind == Kind.REJECTED.value) & (pl.col("category") == "auth")))
        for pos, host, client_ip, username in failing.select("pos", "host", "client_ip", "sasl_username").iter_rows():
            stamp = batch.stamps[pos]
            if stamp is None:
                self.failures_without_time += 1
            else:
                self.add(Failure(stamp, host or "-", client_ip, username))
        return self

    def add_events(self, events: Iterable[Event], classifier: Classifier) -> FailureTally:
        for event in events:
            self.add_event(event, classifier)
        return self

    def add_event(self, event: Event, classifier: Classifier) -> None:
        """Fold in an event if it is a failure; one without a usable time is counted, in no window."""
        if is_failure(event, classifier):
            self.add(failure_of(event))
        elif event.timestamp is None and _fails_authentication(event, classifier):
            self.failures_without_time += 1


@dataclass(slots=True)
class WindowStats:
    count: int = 0
    ips: TopCounter = field(default_factory=lambda: TopCounter(WINDOW_TOP_CAPACITY))
    usernames: TopCounter = field(default_factory=lambda: TopCounter(WINDOW_TOP_CAPACITY))
    distinct_ips: DistinctCounter = field(default_factory=DistinctCounter)

    def merge(self, other: WindowStats) -> None:
        self.count += other.count
        self.ips.merge(other.ips, lambda a, b: a)
        self.usernames.merge(other.usernames, lambda a, b: a)
        self.distinct_ips.merge(other.distinct_ips)


@dataclass(slots=True)
class SourceState:
    # Failure times as offsets from EPOCH: exact instants (datetimes of one zone compare by wall clock,
    # blind to the repeated hour of a DST change), and no datetime to overflow near year 1 or 9999.
    stamps: list[timedelta] = field(default_factory=list)   # the latest 2 x per_ip failure times
    head: list[timedelta] = field(default_factory=list)     # the first 2 x per_ip (for merging parts)
    most_in_window: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    usernames: DistinctCounter = field(default_factory=DistinctCounter)

    def add(self, failure: Failure, settings: SpikeSettings) -> None:
        moment = failure.timestamp
        instant = moment - EPOCH
        if self.first_seen is None or instant < self.first_seen - EPOCH:
            self.first_seen = moment
        if self.last_seen is None or instant > self.last_seen - EPOCH:
            self.last_seen = moment
        self.usernames.add(failure.username)
        self._add_instant(instant, settings)

    def _add_instant(self, instant: timedelta, settings: SpikeSettings) -> None:
        if len(self.head) < 2 * settings.per_ip:
            self.head.append(instant)
        bisect.insort(self.stamps, instant)
        # The failures within `window` before and after this one: a sliding window, not fixed slots.
        low = bisect.bisect_right(self.stamps, instant - settings.window)
        high = bisect.bisect_left(self.stamps, instant + settings.window)
        here = bisect.bisect_left(self.stamps, instant)
        best = max(here - low + 1, high - here)
        self.most_in_window = max(self.most_in_window, best)
        if len(self.stamps) > 2 * settings.per_ip:
            del self.stamps[: len(self.stamps) - 2 * settings.per_ip]

    def merge(self, other: SourceState, settings: SpikeSettings) -> SourceState:
        """This address's state followed by a later part's: the later part's first failures are replayed
        after this part's last ones, so a burst that spans the two parts is still seen."""
        most = max(self.most_in_window, other.most_in_window)
        cap = 2 * settings.per_ip
        head = self.head
        for instant in other.head:
            self._add_instant(instant, settings)
        if len(other.head) >= cap:  # the later part had more than its head: its tail is the new tail
            self.stamps = list(other.stamps)
        self.head = (head + other.head)[:cap]
        self.most_in_window = max(self.most_in_window, most)
        self.usernames.merge(other.usernames)
        self.first_seen = earliest(self.first_seen, other.first_seen)
        self.last_seen = latest(self.last_seen, other.last_seen)
        return self


def failures_in(events: Iterable[Event], classifier: Classifier) -> Iterator[Failure]:
    """The authentication failures among events: auth_failure, or a refusal classified as `auth`."""
    for event in events:
        if is_failure(event, classifier):
            yield failure_of(event)


def is_failure(event: Event, classifier: Classifier) -> bool:
    """A failure that can go into a window: it has a time (see FailureTally.add_event for those without)."""
    return event.timestamp is not None and _fails_authentication(event, classifier)


def _fails_authentication(event: Event, classifier: Classifier) -> bool:
    return event.kind is Kind.AUTH_FAILURE or (event.kind is Kind.REJECTED and classifier(event).category == "auth")


def failure_of(event: Event) -> Failure:
    """The Failure record of an event is_failure() accepted."""
    return Failure(event.timestamp, event.host or "-", event.client_ip, event.sasl_username)


def window_start(moment: datetime, window: timedelta) -> datetime:
    """The start of the fixed window that holds `moment`; near the ends of datetime's range, the first or
    last window that fits in it (a log line can say 0001-01-01 or 9999-12-31T23:59:59-05:00)."""
    offset = (moment - EPOCH) // window
    try:
        return EPOCH + offset * window
    except OverflowError:
        if offset > 0:
            return EPOCH + (LAST_MOMENT - EPOCH) // window * window
        return EPOCH - (EPOCH - FIRST_MOMENT) // window * window


def window_end(start: datetime, window: timedelta) -> datetime:
    """The end of the window that starts at `start`; the last moment of datetime's range for the last one."""
    try:
        return start + window
    except OverflowError:
        return LAST_MOMENT


def _count_windows(windows: dict[datetime, WindowStats], settings: SpikeSettings) -> list[WindowCount]:
    starts = sorted(windows)
    first, step = starts[0], settings.window
    total = (starts[-1] - first) // step + 1
    if total > max(DENSE_SERIES_FLOOR, DENSE_SERIES_FACTOR * len(starts)):
        return [WindowCount(start, windows[start].count) for start in starts]
    counts = []
    for index in range(total):
        moment = first + index * step
        stats = windows.get(moment)
        counts.append(WindowCount(moment, stats.count if stats else 0))
    return counts


class TrailingCounts:
    """The failure counts of the windows with failures in a trailing baseline, as a multiset.

    The baseline's empty windows are only counted (`zeros`), so its median and MAD cost a walk over the
    distinct counts, however many windows the baseline spans: a 1-second window keeps a day's baseline
    without a list of 86,400 zeros.
    """

    def __init__(self) -> None:
        self.values: list[int] = []          # the distinct counts, ascending
        self.copies: dict[int, int] = {}     # count -> windows with it
        self.size = 0

    def add(self, count: int) -> None:
        self.size += 1
        if count in self.copies:
            self.copies[count] += 1
        else:
            self.copies[count] = 1
            bisect.insort(self.values, count)

    def remove(self, count: int) -> None:
        self.size -= 1
        left = self.copies[count] - 1
        if left:
            self.copies[count] = left
        else:
            del self.copies[count]
            del self.values[bisect.bisect_left(self.values, count)]

    def largest(self) -> int:
        return self.values[-1] if self.values else 0

    def median(self, zeros: int) -> float:
        """The median of these counts and `zeros` zeros, as statistics.median gives it."""
        runs = chain(((0, zeros),), ((value, self.copies[value]) for value in self.values))
        return _middle(runs, self.size + zeros)

    def median_deviation(self, median: float, zeros: int) -> float:
        """The median of |x - median| over these counts and `zeros` zeros, as statistics.median gives it."""
        # Deviations ascend along two runs from the median: the counts at or below it going down (the
        # zeros last), and the counts above it going up; merged, they are in order.
        split = bisect.bisect_right(self.values, median)
        down = chain(((median - value, self.copies[value]) for value in reversed(self.values[:split])),
                     ((median, zeros),))
        up = ((value - median, self.copies[value]) for value in self.values[split:])
        return _middle(heapq.merge(down, up), self.size + zeros)


def _middle(runs: Iterable[tuple[float, int]], total: int) -> float:
    """The median of `total` values given as ascending (value, copies) runs: the middle value (its type
    kept), or the mean of the middle two, as statistics.median has it."""
    wanted = ((total - 1) // 2, total // 2)
    found: list[float] = []
    seen = 0
    for value, copies in runs:
        seen += copies
        while len(found) < 2 and wanted[len(found)] < seen:
            found.append(value)
        if len(found) == 2:
            break
    return found[0] if total % 2 else (found[0] + found[1]) / 2


def _judge(windows: list[WindowCount], settings: SpikeSettings) -> None:
    """Baseline, score and verdict of each window, against the `baseline` of windows before it (at most
    back to the host's first window); `windows` may leave out empty ones, which count as zeros."""
    span = max(1, settings.baseline // settings.window)
    early = max(1, MIN_HISTORY // settings.window)
    first = windows[0].start
    history = TrailingCounts()
    in_history: deque[tuple[int, int]] = deque()  # (index, failures) of the windows with failures in it
    for window in windows:
        index = (window.start - first) // settings.window
        while in_history and in_history[0][0] < index - span:
            history.remove(in_history.popleft()[1])
        length = min(span, index)
        if length:
            zeros = length - history.size
            median = history.median(zeros)
            mad = history.median_deviation(median, zeros) * MAD_SCALE
            # Counts are Poisson-like: a flat history (MAD 0) still varies by about sqrt(median).
            spread = max(mad, math.sqrt(median), 1.0)
            window.baseline = median
            window.score = (window.failures - median) / spread
            is_spike = window.failures >= settings.min_count and window.score > settings.threshold
            if is_spike and length < early:
                is_spike = window.failures >= settings.early_factor * history.largest()
            window.spike = is_spike
        if window.failures:
            in_history.append((index, window.failures))
            history.add(window.failures)


def _shape(ips: TopCounter, usernames: TopCounter, failures: int) -> str:
    top_ip = ips.most_common(1)
    top_ip_share = top_ip[0][1] / failures if top_ip else 0.0
    if top_ip_share >= 0.5:
        return "one_source"
    if len(ips.counts) >= 10 and top_ip_share < 0.2:
        return "distributed"
    top_user = usernames.most_common(1)
    top_user_share = top_user[0][1] / failures if top_user else 0.0
    if top_user_share >= 0.5:
        return "targeted"
    return "distributed"


def find_spikes(failures: FailureTally | Iterable[Failure], settings: SpikeSettings | None = None,
                closed_before: datetime | None = None) -> SpikeReport:
    """Spikes per host and per-address offenders, from a FailureTally or a list of failures.

    With `closed_before` (the watcher), only windows that end by then are judged: a window still
    filling is never called a spike, nor counted in a spike's tail.
    """
    if not isinstance(failures, FailureTally):
        tally = FailureTally(settings or SpikeSettings())
        for failure in failures:
            tally.add(failure)
    else:
        tally = failures
    settings = tally.settings
    report = SpikeReport(settings, failures=tally.failures, failures_without_time=tally.failures_without_time)
    for host, windows in sorted(tally.windows.items()):
        if closed_before is not None:
            windows = {start: stats for start, stats in windows.items()
                       if window_end(start, settings.window) <= closed_before}
            if not windows:
                continue
        counts = _count_windows(windows, settings)
        _judge(counts, settings)
        report.windows[host] = counts
        report.spikes.extend(_merge_spikes(host, counts, windows, settings))
        for ip, total in tally.sources[host].counts.items():
            source = tally.sources[host].payloads.get(ip)
            if source is not None and source.most_in_window >= settings.per_ip:
                report.offenders.append(Offender(ip, host, source.most_in_window, total, source.first_seen,
                                                 source.last_seen, source.usernames.count()))
    report.spikes.sort(key=lambda s: (s.start, s.host))
    report.offenders.sort(key=lambda o: (-o.max_in_window, -o.failures, o.client_ip))
    return report


def _merge_spikes(host: str, counts: list[WindowCount], windows: dict[datetime, WindowStats],
                  settings: SpikeSettings) -> list[Spike]:
    spikes = []
    run: list[WindowCount] = []
    for window in counts + [WindowCount(EPOCH, 0)]:
        # A series without its empty windows can hold two spikes with a quiet window between them.
        if window.spike and (not run or window.start - run[-1].start == settings.window):
            run.append(window)
            continue
        if run:
            ips, usernames, distinct = TopCounter(), TopCounter(), DistinctCounter()
            failures = 0
            for member in run:
                stats = windows[member.start]
                failures += stats.count
                ips.merge(stats.ips, lambda a, b: a)
                usernames.merge(stats.usernames, lambda a, b: a)
                distinct.merge(stats.distinct_ips)
            spikes.append(Spike(host, run[0].start, window_end(run[-1].start, settings.window), failures,
                                run[0].baseline, max(w.score for w in run), distinct.count(),
                                ips.most_common(settings.top), usernames.most_common(settings.top),
                                _shape(ips, usernames, failures)))
            run = [window] if window.spike else []
    return spikes


def summarise_with_failures(events: Iterable[Event], classifier: Classifier,
                            settings: SpikeSettings) -> tuple[Summary, FailureTally]:
    """One pass for `analyze`: the report Summary and the failure tally behind its spike section."""
    summary = Summary()
    tally = FailureTally(settings)
    add_event, add_failure = summary.add, tally.add_event
    for event in events:
        add_event(event, classifier(event))
        add_failure(event, classifier)  # the classifier remembers: no second search
    return summary, tally
