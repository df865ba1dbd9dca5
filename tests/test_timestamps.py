from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

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


def test_a_forward_jump_of_months_before_the_reference_is_the_same_year():
    # A log from January to August, last written in August: August follows January, not the year before.
    clock = TimestampReader(UTC, datetime(2026, 8, 3, 18, 0, tzinfo=UTC))
    assert [clock.read(t).year for t in ("Jan  5 10:00:00", "Aug  3 09:00:00")] == [2026, 2026]
    forced = TimestampReader(UTC, datetime(2026, 11, 28, tzinfo=UTC), forced_year=2019)
    assert [forced.read(t).year for t in ("Jan  5 10:00:00", "Aug  3 09:00:00")] == [2019, 2019]


def test_with_a_forced_year_a_late_december_line_after_new_year_stays_in_the_old_year():
    clock = TimestampReader(UTC, datetime(2026, 11, 28, tzinfo=UTC), forced_year=2019)
    stamps = [clock.read(t) for t in ("Dec 31 23:59:58", "Jan  1 00:00:01", "Dec 31 23:59:59", "Jan  1 00:00:02")]
    assert [s.year for s in stamps] == [2019, 2020, 2019, 2020]


def test_a_leap_second_reads_as_the_second_before():
    clock = TimestampReader(UTC, datetime(2017, 1, 1, 6, 0, tzinfo=UTC))
    assert clock.read("Dec 31 23:59:60") == datetime(2016, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert clock.read("2016-12-31T23:59:60Z") == datetime(2016, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert clock.read("2016-12-31 23:59:60.250 +0000") == datetime(2016, 12, 31, 23, 59, 59, 250000, tzinfo=UTC)


@pytest.mark.parametrize("impossible", ["Nov 31 10:00:00", "Feb 29 10:00:00"])
def test_an_impossible_first_date_has_no_time_and_leaves_the_year_alone(impossible):
    # 2026 is a common year. The old inference took a day the month lacks for one of the year before.
    clock = TimestampReader(UTC, datetime(2026, 12, 5, tzinfo=UTC))
    assert clock.read(impossible) is None
    assert clock.read("Dec  1 10:00:00") == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_feb_29_takes_a_leap_year_only_where_the_reference_puts_it():
    assert TimestampReader(UTC, datetime(2025, 2, 10, tzinfo=UTC)).read("Feb 29 10:00:00").year == 2024
    clock = TimestampReader(UTC, datetime(2026, 3, 10, tzinfo=UTC))
    assert [clock.read(t) for t in ("Feb 28 23:00:00", "Feb 29 00:00:00")] == [
        datetime(2026, 2, 28, 23, 0, tzinfo=UTC), None]


BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize("day", ["Oct 25 ", "2026-10-25 "], ids=["syslog", "iso-without-offset"])
def test_the_hour_repeated_when_dst_ends_gets_the_later_offset_the_second_time(day):
    # Europe/Berlin, 2026-10-25: 02:00-02:59 CEST (+02:00), then 02:00-02:59 again in CET (+01:00).
    clock = TimestampReader(BERLIN, datetime(2026, 10, 26, tzinfo=UTC))
    times = ["01:59:59", "02:00:00", "02:59:10", "02:59:08", "02:59:59", "02:00:00", "02:30:00", "02:59:59",
             "03:00:00"]
    stamps = [clock.read(day + t) for t in times]
    offsets = [s.utcoffset() // timedelta(hours=1) for s in stamps]
    assert offsets == [2, 2, 2, 2, 2, 1, 1, 1, 1]  # a line two seconds late is no new pass
    instants = [s.astimezone(UTC) for s in stamps]
    assert instants[5] == datetime(2026, 10, 25, 1, 0, tzinfo=UTC) and instants[5:] == sorted(instants[5:])


def test_the_repeated_hour_of_another_day_starts_afresh():
    clock = TimestampReader(BERLIN, datetime(2026, 10, 26, tzinfo=UTC))
    for text in ("Oct 25 02:50:00", "Oct 25 02:05:00", "Oct 25 04:00:00"):
        clock.read(text)
    assert clock.read("Oct 26 02:05:00").utcoffset() == timedelta(hours=1)  # CET: no DST change that day
    spring = TimestampReader(BERLIN, datetime(2026, 4, 1, tzinfo=UTC))
    assert [spring.read(t).utcoffset() // timedelta(hours=1) for t in ("Mar 29 01:59:00", "Mar 29 03:00:00")] \
        == [1, 2]


def test_ages_past_what_a_datetime_holds_are_usage_errors():
    from analyzer.errors import UsageError
    from analyzer.timestamps import parse_age, parse_time_bound
    now = datetime(2026, 11, 28, 15, 30, tzinfo=timezone.utc)
    for age in ("999999999d", "9999999999d", "9" * 5000 + "d"):
        with pytest.raises(UsageError) as caught:
            parse_time_bound(age, timezone.utc, now)
        assert len(str(caught.value)) < 120
    with pytest.raises(UsageError):
        parse_age("9999999999d", {"d": "days"})
