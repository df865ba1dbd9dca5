"""maillog watch against a real writer process that appends, rotates and truncates, across a restart."""
from __future__ import annotations

import hashlib
import json
import math
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from analyzer import watch
from analyzer.catalogue import load_catalogue
from analyzer.classify import Classifier
from analyzer.errors import MaillogError, UsageError
from analyzer.reader import ReadOptions
from analyzer.sources import MAX_LINE_CHARS, RAW_LINE_BYTES
from analyzer.spikes import SpikeSettings
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


FAILURE_LINE = ("2026-11-20T10:00:0{}+00:00 mx1 postfix/submission/smtpd[4242]: warning: unknown[192.0.2.9]: SASL "
                "LOGIN authentication failed: authentication failure, sasl_username=admin\n")


def _watcher(path: str, state: Path | None = None, poll: float = 0.05) -> watch.Watcher:
    return watch.Watcher(path, ReadOptions(engine="line"), Classifier(load_catalogue()), SpikeSettings(per_ip=3),
                         [].append, state, poll)


def _lines_of(stream) -> queue.Queue:
    """The lines a child writes, as they come: a test waits on them with a timeout, never blocks for good."""
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
    return lines


def _watch_process(*args: str, stdin=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "analyzer", "watch", *args], stdin=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _end(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=30)


GOOD_FILE = {"path": "mail.log", "offset": 0, "identity": [1, 2]}
GOOD_WINDOWS = {"mx1": {"2026-11-20T10:00:00+00:00": 4}}


@pytest.mark.parametrize("saved, problem", [
    pytest.param([], "a JSON list where an object should be", id="list"),
    pytest.param(None, "a JSON null", id="null"),
    pytest.param({"version": 1, "file": {**GOOD_FILE, "offset": -5}}, "file.offset is -5", id="negative-offset"),
    pytest.param({"version": 1, "file": {**GOOD_FILE, "offset": 2**70}}, "file.offset is 1180591620717411303424",
                 id="huge-offset"),
    pytest.param({"version": 1, "file": {**GOOD_FILE, "offset": "12"}}, 'file.offset is "12"', id="string-offset"),
    pytest.param({"version": 1, "file": {**GOOD_FILE, "identity": 5}}, "file.identity is 5", id="int-identity"),
    pytest.param({"version": 1, "file": {**GOOD_FILE, "identity": [1, None]}}, "file.identity", id="null-inode"),
    pytest.param({"version": 1, "file": {**GOOD_FILE, "head": [4096, "beef"]}}, "file.head", id="short-hash"),
    pytest.param({"version": 1, "file": [1, 2]}, "file is [1, 2]", id="file-list"),
    pytest.param({"version": 1, "windows": None}, "windows is null", id="null-windows"),
    pytest.param({"version": 1, "windows": {"mx1": 4}}, 'windows of host "mx1" are 4', id="int-host-windows"),
    pytest.param({"version": 1, "windows": {"mx1": {"2026-11-20T10:00:00+00:00": "4"}}}, 'holds "4" failures',
                 id="string-count"),
    pytest.param({"version": 1, "windows": {"mx1": {"2026-11-20T10:00:00+00:00": -4}}}, "holds -4 failures",
                 id="negative-count"),
    pytest.param({"version": 1, "windows": {"mx1": {"2026-11-20T10:00:00+00:00": 10**400}}}, "failures, not a count",
                 id="huge-count"),
    pytest.param({"version": 1, "windows": {"mx1": {"2026-11-20T10:00:00+00:00": None}}}, "holds null failures",
                 id="null-count"),
    pytest.param({"version": 1, "windows": {"mx1": {"2026-11-20T10:00:00+00:00": True}}}, "holds true failures",
                 id="bool-count"),
    pytest.param({"version": 1, "windows": {"mx1": {"yesterday": 4}}}, 'starts at "yesterday"', id="not-a-time"),
    pytest.param({"version": 1, "windows": {"mx1": {"2026-11-20T10:00:00": 4}}}, "not an ISO time with an offset",
                 id="naive-time"),
    pytest.param({"version": 1, "windows": {"mx1": {"9999-12-31T23:50:00+00:00": 4}}}, "too late to follow",
                 id="end-of-time"),
    pytest.param({"version": 1, "windows": GOOD_WINDOWS, "spikes_raised": 5}, "spikes_raised is 5", id="int-spikes"),
    pytest.param({"version": 1, "spikes_raised": None}, "spikes_raised is null", id="null-spikes"),
    pytest.param({"version": 1, "offenders_raised": {"mx1|192.0.2.9": 7}}, 'offender "mx1|192.0.2.9" was raised at 7',
                 id="int-offender-time"),
])
def test_a_state_file_of_the_wrong_shape_is_refused_naming_it_and_the_problem(tmp_path, saved, problem):
    log, state = tmp_path / "mail.log", tmp_path / "watch.json"
    log.write_text("", encoding="utf-8")
    if isinstance(saved, dict) and "file" in saved and isinstance(saved["file"], dict):
        saved["file"]["path"] = str(log)
        info = log.stat()
        if saved["file"]["identity"] == [1, 2]:  # the real file: a bad offset would be sought to
            saved["file"]["identity"] = [info.st_dev, info.st_ino]
    state.write_text(json.dumps(saved), encoding="utf-8")
    with pytest.raises(MaillogError) as caught:
        _watcher(str(log), state)
    message = str(caught.value)
    assert message.startswith(f"{state}: ") and problem in message and "\n" not in message, message
    assert json.loads(state.read_text(encoding="utf-8")) == saved  # left as it was, for its owner to look at


@pytest.mark.parametrize("args, problem", [
    pytest.param(["--state", "{state}"], "{state}: not a usable maillog watch state file", id="state"),
    pytest.param(["--poll", "inf"], "--poll inf", id="poll-inf"),
    pytest.param(["--poll", "1e400"], "--poll inf", id="poll-overflowing"),
    pytest.param(["--poll", "1e10"], "--poll 1e+10", id="poll-huge"),
])
def test_watch_refuses_a_bad_state_file_or_poll_in_one_line(tmp_path, args, problem):
    log, state = tmp_path / "mail.log", tmp_path / "watch.json"
    log.write_text("", encoding="utf-8")
    state.write_text("[]", encoding="utf-8")
    args = [arg.format(state=state) for arg in args]
    done = subprocess.run([sys.executable, "-m", "analyzer", "watch", str(log), *args], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"maillog: error: {problem.format(state=state)}"), done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr


@pytest.mark.parametrize("poll", [math.inf, math.nan, 1e10, 0.0, -1.0])
def test_the_library_refuses_a_poll_it_cannot_sleep(tmp_path, poll):
    (tmp_path / "mail.log").write_text("", encoding="utf-8")
    with pytest.raises(UsageError, match="--poll"):
        _watcher(str(tmp_path / "mail.log"), poll=poll)


def test_a_log_that_is_not_there_yet_is_waited_for_then_read_from_its_start(tmp_path):
    log = tmp_path / "mail.log"
    process = _watch_process(str(log), "--poll", "0.05", "--per-ip", "3", "--format", "text")
    try:
        errors, alerts = _lines_of(process.stderr), _lines_of(process.stdout)
        assert errors.get(timeout=30) == f"maillog: waiting for {log} to appear\n"
        log.write_text("".join(FAILURE_LINE.format(second) for second in range(3)), encoding="utf-8")
        assert alerts.get(timeout=30).startswith("OFFENDER 192.0.2.9 on mx1: 3 failures")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        time.sleep(0.2)  # the reader threads take the pipes' last lines
        assert errors.empty(), errors.get()  # said once, and nothing else (no traceback)
    finally:
        _end(process)


def test_a_new_file_that_got_the_old_inode_back_is_read_from_its_start(tmp_path):
    log, state = tmp_path / "mail.log", tmp_path / "watch.json"
    old_head = b"Nov 20 09:00:00 mx1 postfix/qmgr[9]: 4F2A1C0899: removed\n" * 3
    new_text = "".join(FAILURE_LINE.format(second) for second in range(3))
    log.write_text(new_text, encoding="utf-8")
    info = log.stat()
    # What the watcher saved for the old file: this device and inode (the file system gave them to the new
    # file), and an offset inside the new file; only the head tells the two apart.
    state.write_text(json.dumps({"version": 1, "file": {
        "path": str(log), "offset": len(old_head), "identity": [info.st_dev, info.st_ino],
        "head": [len(old_head), hashlib.sha256(old_head).hexdigest()]}}), encoding="utf-8")
    watcher = _watcher(str(log), state)
    watcher.follower.open(at_end=True)
    assert watcher.follower.read() == new_text.splitlines()


def test_the_same_file_is_followed_on_from_its_saved_offset_and_its_head_is_saved(tmp_path):
    log, state = tmp_path / "mail.log", tmp_path / "watch.json"
    log.write_bytes(b"first\nsecond\n")
    follower = Follower(str(log))
    follower.open(at_end=True)
    with log.open("ab") as handle:
        handle.write(b"third\n")
    head = follower.saved_head()
    assert head == (len(b"first\nsecond\nthird\n"), hashlib.sha256(b"first\nsecond\nthird\n").hexdigest())
    restarted = Follower(str(log), offset=follower.offset, identity=follower.identity, head=head)
    restarted.open(at_end=True)
    assert restarted.read() == ["third"]


def _vm_peak_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))


@pytest.mark.parametrize("journal", [False, True], ids=["plain", "journal-json"])
def test_a_huge_line_on_stdin_is_skipped_without_being_held(journal):
    huge_bytes = 100 << 20
    lines = [FAILURE_LINE.format(second) for second in range(3)]
    if journal:
        record = {"__REALTIME_TIMESTAMP": "1795600000000000", "_HOSTNAME": "mx1",
                  "SYSLOG_IDENTIFIER": "postfix/submission/smtpd", "_PID": "42",
                  "MESSAGE": "warning: unknown[192.0.2.9]: SASL LOGIN authentication failed: x, sasl_username=root"}
        lines = [json.dumps(record) + "\n"] * 3
        head, tail = b'{"MESSAGE": "', b'"}\n'
    else:
        head, tail = b"Nov 20 10:00:00 mx1 postfix/smtpd[1]: ", b"\n"
    process = _watch_process("-", "--poll", "0.05", "--per-ip", "3", "--format", "text", stdin=subprocess.PIPE)
    try:
        alerts = _lines_of(process.stdout)
        def write() -> None:
            process.stdin.write(lines[0])
            process.stdin.flush()
            process.stdin.buffer.write(head)
            piece = b"x" * (1 << 20)
            for _ in range(huge_bytes // len(piece)):
                process.stdin.buffer.write(piece)
            process.stdin.buffer.write(tail)
            process.stdin.flush()
            for line in lines[1:]:  # one at a time: this test is about the huge line, not about a burst
                time.sleep(0.3)
                process.stdin.write(line)
                process.stdin.flush()
        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        writer.join(timeout=60)
        assert alerts.get(timeout=30).startswith("OFFENDER")  # the lines after the huge one were read
        peak = _vm_peak_kib(process.pid)
        process.stdin.close()
        assert process.wait(timeout=30) == 0
        assert peak < (huge_bytes >> 10), f"peak RSS {peak} KiB while reading a {huge_bytes >> 20} MiB line"
    finally:
        _end(process)


def test_a_burst_on_stdin_is_handled_at_once_not_a_line_per_poll():
    process = _watch_process("-", "--poll", "30", "--per-ip", "5", "--format", "text", stdin=subprocess.PIPE)
    try:
        alerts = _lines_of(process.stdout)
        process.stdin.write("".join(FAILURE_LINE.format(second) for second in range(8)))
        process.stdin.flush()  # and left open: a journalctl -f that goes on
        assert alerts.get(timeout=20).startswith("OFFENDER 192.0.2.9 on mx1: 5 failures")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0  # a wait on stdin ends at once too
    finally:
        _end(process)


def test_sigterm_ends_a_watch_at_once_whatever_its_poll(tmp_path):
    log, state = tmp_path / "mail.log", tmp_path / "watch.json"
    log.write_text("", encoding="utf-8")
    process = _watch_process(str(log), "--state", str(state), "--poll", "60")
    try:
        _wait_for_state(state)
        saved = state.stat().st_mtime_ns
        time.sleep(0.5)  # the watcher is asleep now, for a minute
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0  # today's sleep(60) would run out first
        assert state.stat().st_mtime_ns != saved  # saved on the way out
    finally:
        _end(process)


def test_stop_from_another_thread_ends_a_waiting_run(tmp_path):
    log = tmp_path / "mail.log"
    log.write_text("", encoding="utf-8")
    watcher = _watcher(str(log), tmp_path / "watch.json", poll=60)
    raised = []
    def run() -> None:
        try:
            watcher.run()
        except Exception as exc:  # seen by the test, not lost in the thread
            raised.append(exc)
    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    _wait_for_state(tmp_path / "watch.json")
    time.sleep(0.2)  # asleep now, for a minute
    watcher.stop()
    runner.join(timeout=10)
    assert not runner.is_alive() and not raised, raised
