from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from analyzer.timestamps import TimestampReader

UTC = timezone.utc


def test_year_comes_from_the_reference_time():
    clock = TimestampReader(UTC, datetime(2026, 11, 28, 12, 0, tzinfo=UTC))
    assert clock.read("Nov 28 10:00:01") == datetime(2026, 11, 28, 10, 0, 1, tzinfo=UTC)


def test_a_date_after_the_reference_belongs_to_the_year_before():
    clock = TimestampReader(UTC, datetime(2026, 1, 2, tzinfo=UTC))
    assert clock.read("Dec 30 23:00:00").year == 2025


def test_december_to_january_rollover_within_one_file():
    clock = TimestampReader(UTC, datetime(2027, 1, 1, 6, 0, tzinfo=UTC))
    stamps = [clock.read(t) for t in ("Dec 31 23:59:58", "Dec 31 23:59:59", "Jan  1 00:00:00", "Jan  1 00:00:02")]
    assert [s.year for s in stamps] == [2026, 2026, 2027, 2027]
    assert stamps == sorted(stamps)


def test_a_late_december_line_after_january_lines_stays_in_the_old_year():
    clock = TimestampReader(UTC, datetime(2027, 1, 1, 6, 0, tzinfo=UTC))
    clock.read("Dec 31 23:59:59")
    clock.read("Jan  1 00:00:01")
    assert clock.read("Dec 31 23:59:59") == datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert clock.read("Jan  1 00:00:03").year == 2027


def test_forced_year_and_old_logs():
    clock = TimestampReader(UTC, datetime(2026, 11, 28, tzinfo=UTC), forced_year=2019)
    assert clock.read("Mar  3 08:00:00").year == 2019
    old = TimestampReader(UTC, datetime(2023, 5, 1, tzinfo=UTC))  # a file last written in 2023
    assert old.read("Apr 30 10:00:00").year == 2023


def test_iso_and_exim_stamps_keep_their_offsets():
    zone = timezone(timedelta(hours=9))
    clock = TimestampReader(zone, datetime(2026, 11, 28, tzinfo=UTC))
    assert clock.read("2026-11-28T10:00:01.123456+01:00") == datetime(2026, 11, 28, 9, 0, 1, 123456, tzinfo=UTC)
    assert clock.read("2026-11-28 10:00:01 +0100") == datetime(2026, 11, 28, 9, 0, 1, tzinfo=UTC)
    naive = clock.read("2026-11-28 10:00:01.250")
    assert naive.utcoffset() == timedelta(hours=9) and naive.microsecond == 250000


def test_invalid_stamp_gives_none():
    clock = TimestampReader(UTC, datetime(2026, 11, 28, tzinfo=UTC))
    assert clock.read("Foo 99 99:99:99") is None
    assert clock.read("Feb 30 10:00:00") is None


def test_since_and_until_values():
    from analyzer.errors import UsageError
    from analyzer.timestamps import parse_time_bound
    now = datetime(2026, 11, 28, 15, 30, tzinfo=timezone.utc)
    assert parse_time_bound("7d", timezone.utc, now) == now - timedelta(days=7)
    assert parse_time_bound("yesterday", timezone.utc, now) == datetime(2026, 11, 27, tzinfo=timezone.utc)
    assert parse_time_bound("2026-11-01", timezone.utc, now) == datetime(2026, 11, 1, tzinfo=timezone.utc)
    for bad in ("\u00b2d", "7x", "soon"):  # '²' is a digit that int() refuses
        with pytest.raises(UsageError):
            parse_time_bound(bad, timezone.utc, now)
