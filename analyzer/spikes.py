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

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from .classify import Classifier
from .errors import UsageError
from .events import Event, Kind

MAD_SCALE = 1.4826  # makes the MAD comparable to a standard deviation for normal data
MIN_HISTORY = timedelta(hours=1)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class SpikeSettings:
    window: timedelta = timedelta(minutes=10)
    baseline: timedelta = timedelta(hours=24)
    threshold: float = 5.0
    min_count: int = 10
    per_ip: int = 5
    early_factor: float = 3.0
    top: int = 5


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
    windows: dict[str, list[WindowCount]] = field(default_factory=dict)
    failures: int = 0


def parse_duration(text: str) -> timedelta:
    """'10m', '1h', '24h', '2d', '90s' -> timedelta."""
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    value = text.strip().lower()
    if len(value) >= 2 and value[:-1].isdigit() and value[-1] in units and int(value[:-1]) > 0:
        return timedelta(**{units[value[-1]]: int(value[:-1])})
    raise UsageError(f"cannot read duration {text!r}: use a number and a unit, such as 10m, 1h, 24h, 2d")


def collect_failures(events: Iterable[Event], classifier: Classifier) -> list[Failure]:
    """The authentication failures among events: auth_failure, or a refusal classified as `auth`."""
    failures = []
    for event in events:
        if event.timestamp is None:
            continue
        if event.kind is Kind.AUTH_FAILURE or (
                event.kind is Kind.REJECTED and classifier(event).category == "auth"):
            failures.append(Failure(event.timestamp, event.host or "-", event.client_ip, event.sasl_username))
    return failures


def _window_start(moment: datetime, window: timedelta) -> datetime:
    offset = (moment - EPOCH) // window
    return EPOCH + offset * window


def _count_windows(failures: list[Failure], settings: SpikeSettings) -> list[WindowCount]:
    per_window = Counter(_window_start(f.timestamp, settings.window) for f in failures)
    first, last = min(per_window), max(per_window)
    windows = []
    moment = first
    while moment <= last:
        windows.append(WindowCount(moment, per_window.get(moment, 0)))
        moment += settings.window
    return windows


def _judge(windows: list[WindowCount], settings: SpikeSettings) -> None:
    span = max(1, settings.baseline // settings.window)
    early = max(1, MIN_HISTORY // settings.window)
    for index, window in enumerate(windows):
        history = [w.failures for w in windows[max(0, index - span):index]]
        if not history:
            continue
        median = statistics.median(history)
        mad = statistics.median(abs(x - median) for x in history) * MAD_SCALE
        # Counts are Poisson-like: a flat history (MAD 0) still varies by about sqrt(median).
        spread = max(mad, math.sqrt(median), 1.0)
        window.baseline = median
        window.score = (window.failures - median) / spread
        is_spike = window.failures >= settings.min_count and window.score > settings.threshold
        if is_spike and len(history) < early:
            is_spike = window.failures >= settings.early_factor * max(history)
        window.spike = is_spike


def _shape(ips: Counter, usernames: Counter, failures: int) -> str:
    top_ip_share = ips.most_common(1)[0][1] / failures if ips else 0.0
    if top_ip_share >= 0.5:
        return "one_source"
    if len(ips) >= 10 and top_ip_share < 0.2:
        return "distributed"
    top_user_share = usernames.most_common(1)[0][1] / failures if usernames else 0.0
    if top_user_share >= 0.5:
        return "targeted"
    return "distributed"


def find_spikes(failures: list[Failure], settings: SpikeSettings | None = None) -> SpikeReport:
    """Spikes per host and per-address offenders for a list of failures."""
    settings = settings or SpikeSettings()
    report = SpikeReport(settings, failures=len(failures))
    by_host: dict[str, list[Failure]] = defaultdict(list)
    for failure in failures:
        by_host[failure.host].append(failure)
    for host, host_failures in sorted(by_host.items()):
        host_failures.sort(key=lambda f: f.timestamp)
        windows = _count_windows(host_failures, settings)
        _judge(windows, settings)
        report.windows[host] = windows
        report.spikes.extend(_merge_spikes(host, windows, host_failures, settings))
        report.offenders.extend(_offenders(host, host_failures, settings))
    report.spikes.sort(key=lambda s: (s.start, s.host))
    report.offenders.sort(key=lambda o: (-o.max_in_window, -o.failures, o.client_ip))
    return report


def _merge_spikes(host: str, windows: list[WindowCount], failures: list[Failure],
                  settings: SpikeSettings) -> list[Spike]:
    spikes = []
    run: list[WindowCount] = []
    for window in windows + [WindowCount(EPOCH, 0)]:
        if window.spike:
            run.append(window)
            continue
        if run:
            start, end = run[0].start, run[-1].start + settings.window
            inside = [f for f in failures if start <= f.timestamp < end]
            ips = Counter(f.client_ip for f in inside if f.client_ip)
            usernames = Counter(f.username for f in inside if f.username)
            spikes.append(Spike(host, start, end, len(inside), run[0].baseline, max(w.score for w in run),
                                len(ips), ips.most_common(settings.top), usernames.most_common(settings.top),
                                _shape(ips, usernames, len(inside))))
            run = []
    return spikes


def _offenders(host: str, failures: list[Failure], settings: SpikeSettings) -> list[Offender]:
    per_ip: dict[str, list[Failure]] = defaultdict(list)
    for failure in failures:
        if failure.client_ip:
            per_ip[failure.client_ip].append(failure)
    found = []
    for ip, mine in per_ip.items():
        # The most failures inside any `window`-long span (sliding, so a burst across a boundary counts).
        times = [f.timestamp for f in mine]
        most = 0
        left = 0
        for right, moment in enumerate(times):
            while moment - times[left] >= settings.window:
                left += 1
            most = max(most, right - left + 1)
        if most >= settings.per_ip:
            found.append(Offender(ip, host, most, len(mine), times[0], times[-1],
                                  len({f.username for f in mine if f.username})))
    return found
