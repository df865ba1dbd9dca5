"""maillog watch against a real writer process that appends, rotates and truncates, across a restart."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from analyzer import watch
from analyzer.sources import MAX_LINE_CHARS, RAW_LINE_BYTES
from analyzer.watch import Follower

WRITER = textwrap.dedent('''
    import os, shutil, sys, time
    from datetime import datetime, timedelta, timezone
    log, first_minute, plan = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
    start = datetime(2026, 11, 20, tzinfo=timezone.utc) + timedelta(minutes=first_minute)
    def line(moment, ip, user):
        return (f"{moment.isoformat()} mx1 postfix/submission/smtpd[4242]: warning: unknown[{ip}]: SASL LOGIN "
                f"authentication failed: authentication failure, sasl_username={user}\\n")
    minute = 0
    def write(lines):
        with open(log, "a", encoding="utf-8") as handle:
            for index, text in enumerate(lines):
                handle.write(text)
                if index % 15 == 14:
                    handle.flush()
                    time.sleep(0.01)
    for step in plan:
        if step == "background":      # two hours, a failure every five minutes from passing bots
            write([line(start + timedelta(minutes=minute + 5 * i), f"198.51.100.{i % 200 + 1}", "admin")
                   for i in range(24)])
            minute += 120
        elif step in ("one", "many"):  # 40 failures inside one ten-minute window
            base = start + timedelta(minutes=minute - minute % 10 + 10)
            write([line(base + timedelta(seconds=10 * i), "203.0.113.7" if step == "one" else f"2001:db8:bad::{i:x}",
                        "root") for i in range(40)])
            minute = minute - minute % 10 + 20
        elif step == "rename":         # logrotate's default: move away, start a new file
            os.rename(log, log + ".1")
            open(log, "w").close()
        elif step == "copytruncate":
            shutil.copyfile(log, log + ".2")
            with open(log, "r+") as handle:
                handle.truncate(0)
        # Rotations come hours apart on a real server: give the watcher time to read up to each one, as
        # tail -F needs too (what is written and truncated away between two looks is lost to any reader).
        time.sleep(0.4)
    print(minute)
''')


def _start_watch(log: Path, state: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "analyzer", "watch", str(log), "--state", str(state), "--poll",
                             "0.05", "--per-ip", "1000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _write(log: Path, first_minute: int, plan: str) -> int:
    done = subprocess.run([sys.executable, "-c", WRITER, str(log), str(first_minute), plan], check=True,
                          capture_output=True, text=True, timeout=60)
    return first_minute + int(done.stdout)


def _stop(process: subprocess.Popen) -> list[dict]:
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    return [json.loads(line) for line in out.splitlines()]


def _wait_for_state(state: Path, deadline: float = 20.0) -> None:
    end = time.monotonic() + deadline
    while not state.exists() and time.monotonic() < end:
        time.sleep(0.05)


def _settle(seconds: float = 1.0) -> None:
    time.sleep(seconds)  # let the watcher poll the last lines (it polls every 0.05 s)



def test_alerts_once_each_in_order_across_rotation_truncation_and_restart(tmp_path):
    log, state = tmp_path / "mail.log", tmp_path / "watch.json"
    log.write_text("", encoding="utf-8")
    watch = _start_watch(log, state)
    _wait_for_state(state)  # the watcher has opened the file (at its end) and saved its position
    minute = _write(log, 0, "background,one,background,rename,background,many,background,copytruncate,"
                            "background,one,background")
    _settle()
    first = _stop(watch)
    assert state.exists()
    minute = _write(log, minute, "background,many,background")  # while the watcher is stopped
    saved = state.stat().st_mtime_ns
    watch = _start_watch(log, state)
    end = time.monotonic() + 20
    while state.stat().st_mtime_ns == saved and time.monotonic() < end:  # up again, and caught up
        time.sleep(0.05)
    _settle()
    minute = _write(log, minute, "background,one,background")
    _settle()
    second = _stop(watch)
    spikes = [a for a in first + second if a["alert"] == "spike"]
    starts = [a["start"] for a in spikes]
    assert starts == sorted(starts) and len(starts) == len(set(starts)) == 5, starts
    assert [a["shape"] for a in spikes] == ["one_source", "distributed", "one_source", "distributed", "one_source"]
    assert all(a["failures"] == 40 for a in spikes)
    assert [a["alert"] for a in second] == ["spike", "spike"]  # only the two bursts written after the stop


def test_follower_reads_across_rename_truncate_and_a_missing_file(tmp_path):
    path = tmp_path / "mail.log"
    path.write_text("old line\n", encoding="utf-8")
    follower = Follower(str(path))
    follower.open(at_end=True)
    assert follower.read() == []
    with path.open("a") as handle:
        handle.write("one\ntw")
    assert follower.read() == ["one"]
    with path.open("a") as handle:
        handle.write("o\n")
    os.rename(path, tmp_path / "mail.log.1")
    assert follower.read() == ["two"]          # the rotated file is read to its end
    path.write_text("three\n", encoding="utf-8")
    assert follower.read() == ["three"]        # then the new file from its start
    path.write_text("", encoding="utf-8")      # copy-truncate
    with path.open("a") as handle:
        handle.write("four\n")
    assert follower.read() == ["four"]
    path.unlink()
    assert follower.read() == []               # briefly missing: no error
    path.write_text("five\n", encoding="utf-8")
    assert follower.read() == ["five"]


def test_journald_json_on_stdin(tmp_path):
    records = []
    for index in range(14):
        moment = 1795600000 + (0 if index < 2 else 3600) + index * 5  # quiet, then a burst an hour later
        records.append(json.dumps({
            "__REALTIME_TIMESTAMP": str(moment * 1_000_000), "_HOSTNAME": "mx1",
            "SYSLOG_IDENTIFIER": "postfix/submission/smtpd", "_PID": "42",
            "MESSAGE": "warning: unknown[203.0.113.8]: SASL LOGIN authentication failed: x, sasl_username=root"}))
    done = subprocess.run([sys.executable, "-m", "analyzer", "watch", "-", "--poll", "0.05", "--format", "text",
                           "--per-ip", "10"], input="\n".join(records) + "\n", capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [line for line in done.stdout.splitlines() if line.startswith("OFFENDER")]
    assert "OFFENDER 203.0.113.8 on mx1: 10 failures within one window" in done.stdout


def test_an_idle_watch_sleeps(tmp_path):
    log = tmp_path / "mail.log"
    log.write_text("", encoding="utf-8")
    watch = _start_watch(log, tmp_path / "state.json")
    _wait_for_state(tmp_path / "state.json")
    def cpu_seconds() -> float:
        fields = Path(f"/proc/{watch.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    before = cpu_seconds()
    time.sleep(2.0)
    used = cpu_seconds() - before
    _stop(watch)
    assert used < 0.3, f"an idle watch used {used:.2f} s of CPU in 2 s"


def test_alerts_also_go_to_syslog(monkeypatch, capsys):
    import syslog

    from analyzer.cli import _alert_printer
    sent = []
    monkeypatch.setattr(syslog, "openlog", lambda *args: sent.append(("open", args)))
    monkeypatch.setattr(syslog, "syslog", lambda priority, text: sent.append((priority, text)))
    emit = _alert_printer("json", True)
    emit({"alert": "offender", "host": "mx1", "client_ip": "192.0.2.7", "failures_in_window": 30,
          "time": "2026-11-28T10:00:00+00:00"})
    assert json.loads(capsys.readouterr().out)["client_ip"] == "192.0.2.7"
    assert sent[0] == ("open", ("maillog", syslog.LOG_PID, syslog.LOG_MAIL))
    assert sent[1] == (syslog.LOG_WARNING, "OFFENDER 192.0.2.7 on mx1: 30 failures within one window, at "
                                           "2026-11-28T10:00:00+00:00")


def test_follower_reads_a_bounded_amount_at_a_time_and_skips_a_line_without_end(tmp_path, monkeypatch):
    monkeypatch.setattr(watch, "READ_BYTES", 1 << 16)
    path = tmp_path / "mail.log"
    endless = b"a" * (3 << 20)  # far longer than the line limit, and than one read
    path.write_bytes(b"first\r\n" + endless + b"\n" + b"line\n" * 100_000 + b"last\n")
    follower = Follower(str(path))
    follower.open(at_end=False)
    reads = []
    while lines := follower.read():
        reads.append(lines)
    assert len(reads) > 7 and max(len(lines) for lines in reads) <= (1 << 16) // 5 + 1  # 64 KiB at a time
    found = [line for lines in reads for line in lines]
    assert found[0] == "first" and found[-1] == "last" and len(found) == 100_003
    assert MAX_LINE_CHARS < len(found[1]) <= RAW_LINE_BYTES  # counted as too long, not kept whole


def test_a_restart_inside_a_long_line_never_reads_its_tail_as_a_line(tmp_path, monkeypatch):
    monkeypatch.setattr(watch, "READ_BYTES", 1 << 16)
    path = tmp_path / "mail.log"
    forged = b" Nov 27 10:00:01 mx1 postfix/smtpd[1]: forged"
    path.write_bytes(b"first\n" + b"b" * (2 << 20))  # a long line still being written
    follower = Follower(str(path))
    follower.open(at_end=False)
    while follower.read():
        pass
    saved = (follower.offset, follower.identity)
    with path.open("ab") as handle:
        handle.write(forged + b"\nlast\n")
    restarted = Follower(str(path), offset=saved[0], identity=saved[1])
    restarted.open(at_end=True)
    lines = []
    while more := restarted.read():
        lines += more
    assert saved[0] == len(b"first\n")  # the start of the long line, not its middle
    assert lines[-1] == "last" and len(lines) == 2 and len(lines[0]) > MAX_LINE_CHARS  # read again, whole


def test_json_alerts_escape_c1_controls_from_the_log():
    import json

    from analyzer.watch import format_alert
    alert = {"alert": "offender", "host": "mx\x9b1", "client_ip": "192.0.2.7", "failures_in_window": 6,
             "time": "2026-11-28T10:00:00+00:00"}
    text = format_alert(alert, "json")
    assert "\x9b" not in text and json.loads(text) == alert
    assert "\x9b" not in format_alert(alert, "text")
