"""Turn timestamp text from a header into an aware datetime.

RFC 3164 syslog stamps have no year. The year comes from a reference time (the file's mtime: the last
line was written before it) and from the order of lines: a month that jumps back (Dec -> Jan) starts
a new year; a month that jumps forward by more than half a year is a late line from the year before.
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import UsageError

MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}


def resolve_timezone(name: str | None) -> tzinfo:
    """The zone for naive timestamps: --tz NAME, else the machine's local zone."""
    if name:
        if name.upper() in ("UTC", "Z"):
            return timezone.utc
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise UsageError(f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin or UTC)") \
                from None
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        candidates.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    except OSError:
        pass
    try:
        target = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    for candidate in candidates:
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return datetime.now().astimezone().tzinfo or timezone.utc


class TimestampReader:
    """Reads the timestamps of one input, in line order, keeping the inferred year between lines."""

    def __init__(self, zone: tzinfo, reference: datetime, forced_year: int | None = None):
        self.zone = zone
        self.reference = reference if reference.tzinfo else reference.replace(tzinfo=zone)
        self.forced_year = forced_year
        self._year: int | None = None
        self._last_month = 0
        self._last_text = ""
        self._last_value: datetime | None = None
        self._day_text = ""                      # the "Mmm dd" of the last syslog stamp, and its (y, m, d)
        self._day: tuple[int, int, int] = (0, 0, 0)

    def read(self, text: str) -> datetime | None:
        """The datetime for header text, or None when the text is not a valid time."""
        if text == self._last_text:
            return self._last_value
        try:
            if text[0].isdigit():
                value = self._read_iso(text)
            else:
                value = self._read_syslog(text)
        except (ValueError, KeyError, IndexError):
            value = None
        self._last_text, self._last_value = text, value
        return value

    def _read_iso(self, text: str) -> datetime:
        # Exim: "2026-11-28 10:00:01.123 +0100"; RFC 3339: "2026-11-28T10:00:01,5Z".
        text = text.replace(",", ".")
        if len(text) > 20 and text[-5] in "+-" and text[-6] == " ":
            text = text[:-6] + text[-5:]
        value = datetime.fromisoformat(text)
        if value.tzinfo is None:
            value = value.replace(tzinfo=self.zone)
        return value

    def _read_syslog(self, text: str) -> datetime:
        day_text = text[:6]
        if day_text != self._day_text:
            # The year (and its inference across New Year) changes only where the day does.
            month = MONTHS[text[:3]]
            day = int(text[4:6])
            if self._year is None:
                self._year = self.forced_year or self._first_year(month, day)
            elif month < self._last_month - 6:
                self._year += 1
            year = self._year
            if month > self._last_month + 6 and self._last_month:
                year -= 1  # a straggler from December written after January lines
            else:
                self._last_month = month
            self._day_text, self._day = day_text, (year, month, day)
        year, month, day = self._day
        clock = text[7:]
        hour, minute, second = int(clock[0:2]), int(clock[3:5]), int(clock[6:8])
        micro = int(clock[9:15].ljust(6, "0")) if len(clock) > 9 else 0
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=self.zone)

    def _first_year(self, month: int, day: int) -> int:
        year = self.reference.year
        try:
            candidate = datetime(year, month, day, tzinfo=self.zone)
        except ValueError:  # Feb 29 in a year that has none: the log is from a leap year before
            return year - 1
        if candidate > self.reference + timedelta(days=1):
            year -= 1
        return year


def parse_age(value: str, units: dict[str, str]) -> timedelta | None:
    """'24h' -> timedelta(hours=24) for a number and one of `units` (letter -> timedelta argument); else None."""
    if value[:-1].isdecimal() and value[-1:] in units:  # isdecimal, not isdigit: int() refuses '²'
        return timedelta(**{units[value[-1]]: int(value[:-1])})
    return None


def parse_time_bound(text: str, zone: tzinfo, now: datetime | None = None) -> datetime:
    """A --since/--until value: an ISO date or date-time, 'today', 'yesterday', or an age like 7d/24h/30m."""
    now = (now or datetime.now(zone)).astimezone(zone)
    value = text.strip().lower()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if value == "today":
        return midnight
    if value == "yesterday":
        return midnight - timedelta(days=1)
    if value == "now":
        return now
    age = parse_age(value, {"d": "days", "h": "hours", "m": "minutes", "w": "weeks"})
    if age is not None:
        return now - age
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"cannot read time {text!r}: use an ISO date or time (2026-11-28, "
                         f"2026-11-28T06:00), today, yesterday, or an age such as 7d, 24h, 30m") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
