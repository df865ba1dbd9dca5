"""Spike detection on generated failure series, and the spikes command."""
from __future__ import annotations

import json
import math
import random
import statistics
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from analyzer import spikes
from analyzer.classify import Classifier
from analyzer.cli import app
from analyzer.errors import UsageError
from analyzer.events import Event, Kind
from analyzer.spikes import (Failure, FailureTally, SpikeSettings, find_spikes, parse_duration,
                             summarise_with_failures)

runner = CliRunner()
UTC = timezone.utc
START = datetime(2026, 11, 20, tzinfo=UTC)
SAMPLE_LOGS = Path(__file__).resolve().parent.parent / "sample_logs"


def background(rng: random.Random, days: float, per_hour: float, rhythm: bool = False) -> list[Failure]:
    """Poisson-ish failures from many addresses; with `rhythm`, a day/night swing of 4x."""
    failures = []
    minutes = int(days * 24 * 60)
    for minute in range(minutes):
        rate = per_hour / 60
        if rhythm:
            rate *= 1 + 0.6 * math.sin(2 * math.pi * (minute / 1440))
        for _ in range(poisson(rng, rate)):
            failures.append(Failure(START + timedelta(minutes=minute, seconds=rng.randrange(60)), "mx1",
                                    f"198.51.100.{rng.randrange(1, 255)}", rng.choice(["admin", "info", "bob"])))
    return failures


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method; means here are a few per minute)."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def burst(at: timedelta, minutes: int, count: int, shape: str, rng: random.Random) -> list[Failure]:
    failures = []
    for i in range(count):
        moment = START + at + timedelta(seconds=rng.randrange(minutes * 60))
        if shape == "one_source":
            ip, user = "192.0.2.66", rng.choice(["admin", "root", "info"])
        elif shape == "distributed":
            ip, user = f"2001:db8:bad::{i:x}", rng.choice(["admin", "info", "test", "sales", "office"])
        else:  # targeted: a handful of addresses, one account
            ip, user = f"192.0.2.{rng.randrange(100, 104)}", "ceo@example.com"
        failures.append(Failure(moment, "mx1", ip, user))
    return failures


@pytest.mark.parametrize("shape", ["one_source", "distributed", "targeted"])
def test_an_injected_burst_is_found_with_its_start_and_shape(shape):
    rng = random.Random(7)
    failures = background(rng, days=2, per_hour=3) + burst(timedelta(days=1, hours=13, minutes=20), 15, 120,
                                                           shape, rng)
    report = find_spikes(failures)
    assert len(report.spikes) == 1, [(s.start, s.failures) for s in report.spikes]
    (spike,) = report.spikes
    assert spike.start == START + timedelta(days=1, hours=13, minutes=20)
    assert spike.shape == shape
    assert spike.failures >= 120 and spike.host == "mx1"


def test_several_bursts_are_each_found():
    rng = random.Random(3)
    failures = background(rng, days=3, per_hour=2)
    starts = [timedelta(days=1, hours=2), timedelta(days=1, hours=18, minutes=40), timedelta(days=2, hours=9, minutes=10)]
    for at in starts:
        failures += burst(at, 9, 60, "one_source", rng)
    report = find_spikes(failures)
    assert [s.start for s in report.spikes] == [START + at for at in starts]


@pytest.mark.parametrize("per_hour,rhythm", [(3, False), (180, False), (120, True), (0.2, False)],
                         ids=["quiet", "busy-steady", "daily-rhythm", "almost-silent"])
def test_background_alone_gives_no_spike(per_hour, rhythm):
    report = find_spikes(background(random.Random(11), days=3, per_hour=per_hour, rhythm=rhythm))
    assert report.spikes == []


def test_busy_start_of_a_log_is_not_an_alarm():
    # Tens of failures every ten minutes from the first minute on: the early-history rule holds.
    report = find_spikes(background(random.Random(5), days=0.5, per_hour=240))
    assert report.spikes == []


def test_offenders_use_a_sliding_window():
    at = START + timedelta(hours=5, minutes=8)  # straddles a 10-minute boundary
    failures = [Failure(at + timedelta(seconds=50 * i), "mx1", "192.0.2.9", "admin") for i in range(8)]
    failures += [Failure(START + timedelta(hours=i), "mx1", "192.0.2.10", "bob") for i in range(8)]
    report = find_spikes(failures, SpikeSettings(per_ip=8))
    assert [(o.client_ip, o.max_in_window, o.failures) for o in report.offenders] == [("192.0.2.9", 8, 8)]


def test_durations():
    assert parse_duration("10m") == timedelta(minutes=10) and parse_duration("24h") == timedelta(hours=24)
    for bad in ("", "10", "m", "-5m", "0h", "\u00b2m"):  # '²' is a digit that int() refuses
        with pytest.raises(UsageError):
            parse_duration(bad)


def test_spikes_command_on_the_sample_logs():
    result = runner.invoke(app, ["spikes", str(SAMPLE_LOGS), "--year", "2026", "--tz", "UTC", "--format", "json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    keys = ["start", "end", "failures", "baseline", "score", "distinct_ips", "top_ips", "top_usernames", "shape",
            "host"]
    assert all(list(spike) == keys for spike in data["spikes"])
    shapes = {(s["host"], s["shape"]) for s in data["spikes"]}
    assert ("mx1", "one_source") in shapes and ("mx1", "distributed") in shapes
    brute = next(s for s in data["spikes"] if s["top_ips"] and s["top_ips"][0][0] == "203.0.113.45")
    assert brute["start"] == "2026-11-26T14:00:00+00:00" and brute["failures"] == 162
    text = runner.invoke(app, ["spikes", str(SAMPLE_LOGS), "--year", "2026", "--tz", "UTC"]).stdout
    assert "SPIKE one_source" in text and "! 2026-11-26T14:10" in text


def test_spikes_exit_status_and_ips_only():
    assert runner.invoke(app, ["spikes", str(SAMPLE_LOGS), "--year", "2026", "--tz", "UTC", "--fail-on-spike"]).exit_code == 1
    result = runner.invoke(app, ["spikes", str(SAMPLE_LOGS), "--year", "2026", "--tz", "UTC", "--ips-only", "--per-ip", "20"])
    assert result.exit_code == 0 and result.stdout.split() == ["203.0.113.45", "203.0.113.77"]
    quiet = runner.invoke(app, ["spikes", str(SAMPLE_LOGS / "sendmail"), "--year", "2026", "--tz", "UTC", "--fail-on-spike"])
    assert quiet.exit_code == 0 and "No spikes found." in quiet.stdout
    assert runner.invoke(app, ["spikes", str(SAMPLE_LOGS), "--year", "2026", "--tz", "UTC", "--window", "ten"]).exit_code == 2


LAST_DAY = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize("moment", [LAST_DAY, LAST_DAY.replace(tzinfo=timezone(timedelta(hours=-5))),
                                    datetime(1, 1, 1, tzinfo=UTC),
                                    datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))],
                         ids=["9999-utc", "9999-minus-5h", "0001-utc", "0001-plus-5h"])
def test_failures_at_the_ends_of_the_calendar_keep_their_windows(moment):
    seconds = range(48, 60) if moment.year == 9999 else range(12)  # the last or first minute there is
    failures = [Failure(moment.replace(second=s), "mx1", "192.0.2.9", "admin") for s in seconds]
    report = find_spikes(failures, SpikeSettings(per_ip=12, window=timedelta(hours=1)))
    assert report.failures == 12 and sum(w.failures for w in report.windows["mx1"]) == 12
    assert [(o.client_ip, o.max_in_window) for o in report.offenders] == [("192.0.2.9", 12)]


def test_a_spike_in_the_last_window_of_the_calendar_ends_there():
    failures = [Failure(LAST_DAY - timedelta(days=2, minutes=30 * i), "mx1", f"192.0.2.{i}", "a") for i in range(96)]
    failures += [Failure(LAST_DAY - timedelta(seconds=i), "mx1", "192.0.2.66", "root") for i in range(50)]
    (spike,) = find_spikes(failures).spikes
    assert spike.failures == 50 and spike.end == datetime.max.replace(tzinfo=UTC)


@pytest.mark.parametrize("command", ["spikes", "analyze", "report"])
def test_log_stamps_in_year_9999_are_read_not_fatal(command, tmp_path):
    failure = ("mx1 postfix/smtpd[1]: warning: unknown[192.0.2.9]: SASL LOGIN authentication failed: "
               "(reason unavailable), sasl_username=admin")
    iso = tmp_path / "iso.log"
    iso.write_text(f"9999-12-31T23:59:59Z {failure}\n9999-12-31T23:59:59-05:00 {failure}\n")
    syslog = tmp_path / "syslog.log"
    syslog.write_text(f"Dec 31 23:59:59 {failure}\n")
    extra = ["--html", str(tmp_path / "page.html"), "-o", str(tmp_path / "out.csv")] if command == "report" else []
    for log, options in ((iso, []), (syslog, ["--year", "9999"])):
        result = runner.invoke(app, [command, str(log), "--tz", "UTC", *options, *extra])
        assert result.exit_code == 0, result.output
    assert "Authentication failures: 1;" in runner.invoke(app, ["spikes", str(syslog), "--year", "9999",
                                                                 "--tz", "UTC"]).stdout


@pytest.mark.parametrize("option", [["--since", "999999999d"], ["--until", "999999999d"],
                                    ["--window", "9999999999d"], ["--baseline", "9999999999d"],
                                    ["--window", "3651d"], ["--baseline", "9" * 5000 + "s"]])
def test_times_and_durations_past_the_calendar_are_one_line_errors(option):
    result = runner.invoke(app, ["spikes", str(SAMPLE_LOGS / "sendmail"), "--year", "2026", *option])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.startswith("maillog: error: ") and len(result.stderr.splitlines()) == 1
    assert len(result.stderr) < 160


def test_two_failures_a_year_apart_make_two_windows_not_a_year_of_them():
    failures = [Failure(START, "mx1", "192.0.2.9", "admin"), Failure(START + timedelta(days=365), "mx1", None, None)]
    report = find_spikes(failures)
    assert [(w.start, w.failures) for w in report.windows["mx1"]] == [(START, 1), (START + timedelta(days=365), 1)]
    assert report.spikes == []


def test_a_one_second_window_with_a_day_of_baseline_is_quick():
    # 8,640 failures over 12 hours in 1-second windows: the old baseline sorted up to 43,200 counts for
    # each of 43,200 windows (minutes); zeros are counted now, not listed.
    rng = random.Random(2)
    failures = [Failure(START + timedelta(seconds=5 * i + rng.randrange(5)), "mx1", f"198.51.100.{i % 200}", "a")
                for i in range(8640)]
    failures += [Failure(START + timedelta(hours=9, seconds=0.05 * i), "mx1", "192.0.2.66", "root") for i in range(15)]
    started = time.perf_counter()
    report = find_spikes(failures, SpikeSettings(window=timedelta(seconds=1)))
    assert time.perf_counter() - started < 10
    assert [(s.start, s.failures) for s in report.spikes] == [(START + timedelta(hours=9), 15)]


def _judged_as_before(counts: list[int], settings: SpikeSettings) -> list[tuple]:
    """The judgement of a dense series the way the first version computed it: statistics over a list."""
    span, early = max(1, settings.baseline // settings.window), max(1, timedelta(hours=1) // settings.window)
    verdicts = []
    for index, failures in enumerate(counts):
        history = counts[max(0, index - span):index]
        if not history:
            verdicts.append((0.0, 0.0, False))
            continue
        median = statistics.median(history)
        spread = max(statistics.median(abs(x - median) for x in history) * 1.4826, math.sqrt(median), 1.0)
        score = (failures - median) / spread
        spike = failures >= settings.min_count and score > settings.threshold
        if spike and len(history) < early:
            spike = failures >= settings.early_factor * max(history)
        verdicts.append((median, score, spike))
    return verdicts


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_the_baseline_over_counted_zeros_equals_the_baseline_over_listed_ones(seed, sparse, monkeypatch):
    if sparse:  # only the windows with failures go into the series
        monkeypatch.setattr(spikes, "DENSE_SERIES_FLOOR", 0)
        monkeypatch.setattr(spikes, "DENSE_SERIES_FACTOR", 0)
    rng = random.Random(seed)
    settings = SpikeSettings(window=timedelta(minutes=5), baseline=timedelta(hours=3), threshold=3, min_count=3)
    failures = [f for f in background(rng, days=1.5, per_hour=[1, 6, 40, 0.3][seed])
                if f.timestamp.hour % 7 != 3]  # quiet hours: gaps in the series
    for hours in (4, 11, 11.1, 20, 27):  # 11 and 11.1: two bursts with a quiet window between them
        failures += burst(timedelta(hours=hours), 4, 30, "one_source", rng)
    report = find_spikes(failures, settings)
    dense = [0] * ((max(f.timestamp for f in failures) - START) // settings.window + 1)
    for failure in failures:
        dense[(failure.timestamp - START) // settings.window] += 1
    offset = (report.windows["mx1"][0].start - START) // settings.window
    expected = {START + (offset + i) * settings.window: verdict
                for i, verdict in enumerate(_judged_as_before(dense[offset:], settings))}
    got = {w.start: (w.baseline, w.score, w.spike) for w in report.windows["mx1"]}
    assert len(got) == (sum(1 for n in dense if n) if sparse else len(dense) - offset)
    assert all(repr(got[start]) == repr(expected[start]) for start in got)  # int or float medians alike
    spike_windows = sorted(start for start, verdict in expected.items() if verdict[2])
    runs = [start for start in spike_windows if start - settings.window not in spike_windows]
    assert [s.start for s in report.spikes] == runs


def test_failures_in_the_repeated_hour_of_dst_are_apart_by_their_instants():
    # 02:55-02:59 CEST then 02:00-02:04 CET (fold=1): five minutes apart in real time, not 55 minutes back.
    berlin = ZoneInfo("Europe/Berlin")
    first = [datetime(2026, 10, 25, 2, 55 + i, tzinfo=berlin) for i in range(5)]
    second = [datetime(2026, 10, 25, 2, i, fold=1, tzinfo=berlin) for i in range(5)]
    report = find_spikes([Failure(m, "mx1", "192.0.2.9", "a") for m in first + second], SpikeSettings(per_ip=10))
    assert [(o.max_in_window, o.first_seen, o.last_seen) for o in report.offenders] == [(10, first[0], second[-1])]


def test_failures_without_a_time_are_counted_apart(catalogue):
    events = [Event(kind=Kind.AUTH_FAILURE, host="mx1", client_ip="192.0.2.9"),
              Event(timestamp=START, kind=Kind.AUTH_FAILURE, host="mx1", client_ip="192.0.2.9"),
              Event(kind=Kind.DELIVERED, host="mx1")]
    classifier = Classifier(catalogue)
    tally = FailureTally(SpikeSettings()).add_events(events, classifier)
    _, together = summarise_with_failures(events, classifier, SpikeSettings())
    for found in (find_spikes(tally), find_spikes(together)):
        assert (found.failures, found.failures_without_time) == (1, 1)
    tally.merge(together)
    assert (tally.failures, tally.failures_without_time) == (2, 2)


def test_settings_refuse_a_window_or_baseline_of_nothing_or_of_more_than_ten_years():
    for span in (timedelta(0), timedelta(days=3651)):
        with pytest.raises(UsageError):
            SpikeSettings(window=span)
        with pytest.raises(UsageError):
            SpikeSettings(baseline=span)


@pytest.mark.parametrize("threshold", ["nan", "-1", "inf"])
def test_a_threshold_that_can_judge_nothing_is_refused(threshold):
    from typer.testing import CliRunner

    from analyzer.cli import app
    result = CliRunner().invoke(app, ["spikes", str(SAMPLE_LOGS), "--threshold", threshold])
    assert result.exit_code == 2 and "--threshold" in result.stderr and len(result.stderr.splitlines()) == 1
