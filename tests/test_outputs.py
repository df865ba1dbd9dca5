"""Outputs never destroy what they point at, are written whole or not at all, are checked before any input
is read, and --append never loses a counted row."""
from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analyzer import output, parallel
from analyzer.cli import app
from analyzer.errors import MaillogError

runner = CliRunner()
SAMPLE_LOGS = Path(__file__).resolve().parent.parent / "sample_logs"
REJECT = ("{stamp} mx1 postfix/smtpd[2345]: NOQUEUE: reject: RCPT from unknown[192.0.2.{n}]: 554 5.7.1 "
          "<x@example.com>: Relay access denied; from=<a@example.net> to=<x@example.com> proto=ESMTP helo=<h>\n")


def _two_day_log(path: Path) -> Path:
    """Rejections every 20 minutes from 2026-11-21 00:10 to 2026-11-22 23:50 (UTC, ISO stamps)."""
    lines = [REJECT.format(stamp=f"2026-11-{day}T{hour:02d}:{minute:02d}:00+00:00", n=hour + 1)
             for day in (21, 22) for hour in range(24) for minute in (10, 30, 50)]
    path.write_text("".join(lines), encoding="utf-8")
    return path


def _report(*args: str):
    return runner.invoke(app, ["report", *args, "--tz", "UTC"])


def _counts_by_date(path: Path) -> dict[str, int]:
    import csv
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    totals: dict[str, int] = {}
    for row in rows:
        totals[row["date"]] = totals.get(row["date"], 0) + int(row["count"])
    return totals


@pytest.mark.parametrize("option", ["-o", "--html", "--unparsed"])
def test_an_output_through_a_symlink_writes_the_target_and_keeps_the_link(tmp_path, option):
    target = tmp_path / "real" / "out.txt"
    target.parent.mkdir()
    target.write_text("old\n", encoding="utf-8")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    command = ["analyze", str(SAMPLE_LOGS), "--unparsed", str(link)] if option == "--unparsed" else \
        ["report", str(SAMPLE_LOGS), option, str(link)]
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text(encoding="utf-8") != "old\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]  # no temporary file left


def test_a_dangling_symlink_creates_its_target(tmp_path):
    target = tmp_path / "daily.csv"
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    assert _report(str(SAMPLE_LOGS), "-o", str(link)).exit_code == 0
    assert link.is_symlink() and target.read_text(encoding="utf-8").startswith("date,host,")


def test_an_output_into_a_fifo_is_written_into_it_not_replaced(tmp_path):
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = _report(str(SAMPLE_LOGS), "-o", str(fifo))
    reader.join(timeout=30)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert received and received[0].startswith(b"date,host,mta,")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.fifo"]


def test_a_character_device_is_written_into_directly():
    # /dev/null itself: the old code would have renamed a regular file over it, so the test stops before
    # anything is written unless the output is known to go straight into the device.
    prepared = output.OutputFile("/dev/null")
    try:
        assert prepared.direct and prepared._temporary is None
        with prepared.writing() as handle:
            handle.write("nothing\n")
        prepared.commit()
    finally:
        prepared.discard()
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)


def test_a_directory_as_output_is_refused(tmp_path):
    result = _report(str(SAMPLE_LOGS), "-o", str(tmp_path))
    assert result.exit_code == 2 and "is a directory" in result.stderr


def test_an_unwritable_output_is_found_before_any_input_is_read(tmp_path, monkeypatch):
    def never(*_args, **_kwargs):
        raise AssertionError("the inputs were read before the outputs were checked")
    monkeypatch.setattr(parallel, "collect", never)
    for option in ("-o", "--html"):
        result = _report(str(SAMPLE_LOGS), option, str(tmp_path / "missing-dir" / "x"))
        assert result.exit_code == 2 and "cannot write here" in result.stderr, (option, result.output)
    result = runner.invoke(app, ["analyze", str(SAMPLE_LOGS), "--unparsed", str(tmp_path / "no" / "u.log")])
    assert result.exit_code == 2 and "cannot write here" in result.stderr


class _FullDisk(io.StringIO):
    def write(self, text):
        raise OSError(28, "No space left on device")


def test_a_failed_html_page_leaves_the_csv_unwritten(tmp_path, monkeypatch):
    opened = output.OutputFile.open

    def open_full_for_html(self):
        return _FullDisk() if self.name.endswith(".html") else opened(self)
    monkeypatch.setattr(output.OutputFile, "open", open_full_for_html)
    csv_file, page = tmp_path / "daily.csv", tmp_path / "report.html"
    csv_file.write_text("previous\n", encoding="utf-8")
    result = _report(str(SAMPLE_LOGS), "-o", str(csv_file), "--html", str(page))
    assert result.exit_code == 2 and "report.html: could not be written" in result.stderr
    assert csv_file.read_text(encoding="utf-8") == "previous\n" and not page.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["daily.csv"]


def test_a_rewritten_report_keeps_the_mode_of_the_file_it_replaces(tmp_path):
    out = tmp_path / "daily.csv"
    out.write_text("", encoding="utf-8")
    out.chmod(0o640)
    assert _report(str(SAMPLE_LOGS), "-o", str(out)).exit_code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o640 and out.stat().st_size > 0


@pytest.mark.parametrize("command", [["analyze"], ["events"], ["events", "--jobs", "2"], ["report", "-o", "-"],
                                     ["spikes"], ["check-patterns"]])
def test_a_full_disk_on_stdout_is_a_one_line_error(command):
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "analyzer", command[0], str(SAMPLE_LOGS), *command[1:]],
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == ["maillog: error: standard output: could not be written "
                                                "(No space left on device)"]


def test_explain_onto_a_full_disk_is_a_one_line_error():
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "analyzer", "explain", "550"], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_a_reader_that_goes_away_ends_the_command_quietly_with_status_1():
    process = subprocess.Popen([sys.executable, "-m", "analyzer", "events", str(SAMPLE_LOGS)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.read(10)
    process.stdout.close()
    _, errors = process.communicate(timeout=120)
    assert process.returncode == 1 and errors == b""


def test_append_refuses_a_window_that_covers_part_of_a_day_in_the_file(tmp_path):
    log, out = _two_day_log(tmp_path / "mail.log"), tmp_path / "daily.csv"
    assert _report(str(log), "-o", str(out), "--since", "2026-11-21", "--until", "2026-11-23").exit_code == 0
    before = out.read_bytes()
    assert _counts_by_date(out) == {"2026-11-21": 72, "2026-11-22": 72}
    # The case: a cron job with --since 24h would replace a whole day by its last hour.
    result = _report(str(log), "-o", str(out), "--append", "--since", "2026-11-21T23:00")
    assert result.exit_code == 2 and "2026-11-21" in result.stderr and "whole days" in result.stderr
    assert out.read_bytes() == before


def test_append_without_since_replaces_no_day_already_in_the_file(tmp_path):
    log, out = _two_day_log(tmp_path / "mail.log"), tmp_path / "daily.csv"
    assert _report(str(log), "-o", str(out)).exit_code == 0
    before = out.read_bytes()
    result = _report(str(log), "-o", str(out), "--append")
    assert result.exit_code == 2 and "2026-11-21, 2026-11-22" in result.stderr
    assert out.read_bytes() == before


def test_append_adds_new_days_and_replaces_the_days_it_covers_whole(tmp_path):
    log, out = _two_day_log(tmp_path / "mail.log"), tmp_path / "daily.csv"
    assert _report(str(log), "-o", str(out), "--since", "2026-11-21", "--until", "2026-11-22").exit_code == 0
    for _run in range(2):  # a day run twice is counted once; without --until the log's end is the window's
        result = _report(str(log), "-o", str(out), "--append", "--since", "2026-11-22")
        assert result.exit_code == 0, result.output
    assert _counts_by_date(out) == {"2026-11-21": 72, "2026-11-22": 72}
    # A new day seen in part is added (nothing is replaced); a later run that covers it whole replaces it.
    out.unlink()
    assert _report(str(log), "-o", str(out), "--append", "--since", "2026-11-22T12:00").exit_code == 0
    assert _counts_by_date(out) == {"2026-11-22": 36}
    assert _report(str(log), "-o", str(out), "--append", "--since", "2026-11-22").exit_code == 0
    assert _counts_by_date(out) == {"2026-11-22": 72}


@pytest.mark.parametrize("damage", ["short", "long", "blank"])
def test_append_refuses_a_damaged_report(tmp_path, damage):
    log, out = _two_day_log(tmp_path / "mail.log"), tmp_path / "daily.csv"
    assert _report(str(log), "-o", str(out), "--since", "2026-11-21", "--until", "2026-11-22").exit_code == 0
    lines = out.read_bytes().split(b"\r\n")
    lines[1] = {"short": b",".join(lines[1].split(b",")[:5]), "long": lines[1] + b",extra", "blank": b""}[damage]
    out.write_bytes(b"\r\n".join(lines))
    before = out.read_bytes()
    result = _report(str(log), "-o", str(out), "--append", "--since", "2026-11-22", "--until", "2026-11-23")
    assert result.exit_code == 2 and "row 2 has" in result.stderr and "damaged" in result.stderr
    assert out.read_bytes() == before


def test_atomic_text_file_names_the_file_on_a_failed_write(tmp_path):
    target = tmp_path / "u.log"
    with pytest.raises(MaillogError, match=r"u\.log: could not be written \(No space left on device\)"):
        with output.atomic_text_file(target) as handle:
            handle.write("x")
            raise OSError(28, "No space left on device")
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_report_says_how_many_events_had_no_usable_time(tmp_path):
    log = tmp_path / "mail.log"
    log.write_text(REJECT.format(stamp="Nov 31 10:00:01 ", n=1).replace("  ", " ")
                   + REJECT.format(stamp="Nov 30 10:00:01", n=2), encoding="utf-8")
    result = runner.invoke(app, ["report", str(log), "-o", "-", "--year", "2026"])
    assert result.exit_code == 0
    import csv
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert "1 events had no usable time stamp" in result.stderr and [row["count"] for row in rows] == ["1"]


def test_two_outputs_naming_one_file_are_refused(tmp_path, monkeypatch):
    def never(*_args, **_kwargs):
        raise AssertionError("the inputs were read before the outputs were checked")
    monkeypatch.setattr(parallel, "collect", never)
    same = tmp_path / "same.out"
    result = _report(str(SAMPLE_LOGS), "-o", str(same), "--html", str(same))
    assert result.exit_code == 2 and "named for two outputs" in result.stderr
    assert list(tmp_path.iterdir()) == []
