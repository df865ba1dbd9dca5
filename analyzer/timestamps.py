"""Turn timestamp text from a header into an aware datetime.

RFC 3164 syslog stamps have no year. The year comes from a reference time (the file's mtime: the last
line was written before it) and from the order of lines: a month that jumps back (Dec -> Jan) starts
a new year; a month that jumps forward by more than half a year is a late line from the year before
if the current year would put it after the reference (with --year: if a new year has begun since).
Stamps without an offset repeat an hour when DST ends; the second pass through it gets the later offset.
"""
from __future__ import annotations

import calendar
import os
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import UsageError

MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}
ONE_DAY = timedelta(days=1)
# Inside the hour that DST's end repeats, the clock going back by more than this starts its second pass;
# a line a few seconds or minutes late (several writers, a relay's buffer) does not.
REPEATED_HOUR_STEP_BACK = timedelta(minutes=10)


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
        self._may_repeat_hours = not isinstance(zone, timezone)  # a fixed offset never repeats an hour
        self._offset_changes = False             # the zone's offset changes on the day of the last stamp
        self._iso_day_text = ""                  # the date text of the last ISO stamp without an offset
        self._repeated_latest: datetime | None = None  # the latest time of the first pass through it
        self._repeated_again = False             # in the second pass through a repeated hour

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
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            if text[16:19] != ":60":
                raise
            value = datetime.fromisoformat(text[:17] + "59" + text[19:])  # a leap second: read as :59
        if value.tzinfo is None:
            value = value.replace(tzinfo=self.zone)
            if self._may_repeat_hours:
                if text[:10] != self._iso_day_text:
                    self._iso_day_text = text[:10]
                    self._offset_changes = self._offset_changes_on(value.year, value.month, value.day)
                if self._offset_changes:
                    value = self._in_repeated_hour(value)
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
            if month > self._last_month + 6 and self._last_month and self._is_late(year, month, day):
                year -= 1  # a straggler from December written after January lines
            else:
                self._last_month = month
            self._day_text, self._day = day_text, (year, month, day)
            if self._may_repeat_hours:
                self._offset_changes = self._offset_changes_on(year, month, day)
        year, month, day = self._day
        clock = text[7:]
        hour, minute, second = int(clock[0:2]), int(clock[3:5]), int(clock[6:8])
        micro = int(clock[9:15].ljust(6, "0")) if len(clock) > 9 else 0
        if second == 60:  # a leap second (23:59:60 UTC): read as :59, as date(1) and most tools do
            second = 59
        value = datetime(year, month, day, hour, minute, second, micro, tzinfo=self.zone)
        return self._in_repeated_hour(value) if self._offset_changes else value

    def _first_year(self, month: int, day: int) -> int:
        year = self.reference.year
        return year - 1 if self._after_reference(year, month, day) else year

    def _is_late(self, year: int, month: int, day: int) -> bool:
        """Whether a month far ahead of the last one is a late line from the year before, not the log going
        on: it is when this year would put it after the reference, or with --year (no reference) when a
        new year has begun since the first line."""
        if self.forced_year:
            return year > self.forced_year
        return self._after_reference(year, month, day)

    def _after_reference(self, year: int, month: int, day: int) -> bool:
        # A day the month lacks (Feb 29 of a common year, Nov 31) counts as its last day here: its own
        # line gets no time, and the lines after it keep the year of their neighbours.
        day = min(max(day, 1), calendar.monthrange(year, month)[1])
        return datetime(year, month, day, tzinfo=self.zone) - self.reference > ONE_DAY

    def _offset_changes_on(self, year: int, month: int, day: int) -> bool:
        """Whether the zone's offset changes on this day (twice a year where DST is kept): only then can
        a time be repeated, and only then is each stamp checked for it."""
        try:
            midnight = datetime(year, month, day, tzinfo=self.zone)
            following = (midnight + ONE_DAY).replace(fold=1)  # wall-clock arithmetic: the next midnight
        except (ValueError, OverflowError):  # Nov 31 (no time anyway), or the last day there is
            return False
        return midnight.utcoffset() != following.utcoffset()

    def _in_repeated_hour(self, value: datetime) -> datetime:
        """`value`, with fold=1 (the later offset) in the second pass through an hour that the end of DST
        repeats: there the wall clock goes back (02:59 -> 02:00 in Europe/Berlin), and stays fold=1 to the
        end of that hour."""
        later = value.replace(fold=1)
        if later.utcoffset() >= value.utcoffset():  # not a repeated time (a skipped one has the larger later)
            self._repeated_latest, self._repeated_again = None, False
            return value
        if not self._repeated_again:
            latest = self._repeated_latest  # of the same zone: these compare by wall clock
            if latest is not None and value < latest - REPEATED_HOUR_STEP_BACK:
                self._repeated_again = True
            elif latest is None or value > latest:
                self._repeated_latest = value
        return later if self._repeated_again else value


def quoted(text: str, limit: int = 40) -> str:
    """An option value for an error message: quoted, and cut short if long, so the message stays a line."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."


def parse_age(value: str, units: dict[str, str]) -> timedelta | None:
    """'24h' -> timedelta(hours=24) for a number and one of `units` (letter -> timedelta argument); else None."""
    if value[:-1].isdecimal() and value[-1:] in units:  # isdecimal, not isdigit: int() refuses '²'
        try:
            return timedelta(**{units[value[-1]]: int(value[:-1])})
        except (OverflowError, ValueError):  # past timedelta's million years, or past int()'s 4,300 digits
            raise UsageError(f"{quoted(value)} is too long a time") from None
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
        try:
            return now - age
        except OverflowError:
            raise UsageError(f"cannot use time {quoted(text)}: it goes back before the year 1") from None
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"cannot read time {quoted(text)}: use an ISO date or time (2026-11-28, "
                         f"2026-11-28T06:00), today, yesterday, or an age such as 7d, 24h, 30m") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
