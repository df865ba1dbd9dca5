"""Spike detection on generated failure series, and the spikes command."""
from __future__ import annotations

import json
import math
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analyzer.cli import app
from analyzer.errors import UsageError
from analyzer.spikes import Failure, SpikeSettings, find_spikes, parse_duration

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
