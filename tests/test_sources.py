from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os

import pytest

from analyzer.errors import InputError
from analyzer.events import ParseStats
from analyzer.reader import ReadOptions, read_events
from analyzer.sources import expand_inputs, read_lines

from .conftest import FROZEN_NOW

REJECT = ("Nov 27 10:00:0{n} mx1 postfix/smtpd[2345]: NOQUEUE: reject: RCPT from unknown[192.0.2.1{n}]: "
          "554 5.7.1 <x@example.com>: Relay access denied; from=<a@example.net> to=<x@example.com> "
          "proto=ESMTP helo=<h.example.net>")


def _lines(count: int, start: int = 0) -> bytes:
    return "".join(REJECT.format(n=start + i) + "\n" for i in range(count)).encode()


@pytest.mark.parametrize("opener", [gzip.open, bz2.open, lzma.open], ids=["gzip", "bzip2", "xz"])
def test_compressed_files_are_recognised_by_content(tmp_path, opener):
    path = tmp_path / "mail.log.old"  # no telling suffix
    with opener(path, "wb") as handle:
        handle.write(_lines(3))
    events = list(read_events(expand_inputs([str(path)]), ReadOptions(now=FROZEN_NOW)))
    assert [e.client_ip for e in events] == ["192.0.2.10", "192.0.2.11", "192.0.2.12"]


def test_truncated_gzip_yields_what_it_can_and_says_so(tmp_path):
    whole = gzip.compress(_lines(9) * 200)
    path = tmp_path / "mail.log.2.gz"
    path.write_bytes(whole[: len(whole) // 2])
    stats = ParseStats()
    events = list(read_events(expand_inputs([str(path)]), ReadOptions(now=FROZEN_NOW), stats))
    assert events and len(events) < 9 * 200
    assert stats.problems and "cut short" in stats.problems[0]


def test_rotated_set_is_read_oldest_first(tmp_path):
    (tmp_path / "mail.log").write_bytes(_lines(1, start=3))
    (tmp_path / "mail.log.1").write_bytes(_lines(1, start=2))
    with gzip.open(tmp_path / "mail.log.2.gz", "wb") as handle:
        handle.write(_lines(1, start=1))
    names = [os.path.basename(s.path) for s in expand_inputs([str(tmp_path)])]
    assert names == ["mail.log.2.gz", "mail.log.1", "mail.log"]


def test_missing_input_and_empty_directory_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        expand_inputs([str(tmp_path / "nope.log")])
    with pytest.raises(InputError, match="holds no log files"):
        expand_inputs([str(tmp_path)])


def test_crlf_missing_final_newline_and_invalid_utf8(tmp_path):
    path = tmp_path / "mail.log"
    path.write_bytes(_lines(1).replace(b"\n", b"\r\n") + b"\xff\xfe junk\r\n" + _lines(1, start=1).rstrip(b"\n"))
    stats = ParseStats()
    events = list(read_events(expand_inputs([str(path)]), ReadOptions(now=FROZEN_NOW), stats))
    assert len(events) == 2 and stats.lines_read == 3 and stats.undecodable_lines == 1
    assert sum(stats.by_outcome.values()) == stats.lines_read


def test_journalctl_json_lines_become_syslog_lines(tmp_path):
    record = {"__REALTIME_TIMESTAMP": "1795860001000000", "_HOSTNAME": "mx1", "SYSLOG_IDENTIFIER": "postfix/smtpd",
              "_PID": "77", "MESSAGE": "warning: unknown[192.0.2.9]: SASL LOGIN authentication failed: "
                                       "authentication failure, sasl_username=alice"}
    path = tmp_path / "journal.json"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    lines = list(read_lines(expand_inputs([str(path)])[0], []))
    assert lines[0].endswith("postfix/smtpd[77]: " + record["MESSAGE"])
    (event,) = read_events(expand_inputs([str(path)]), ReadOptions(now=FROZEN_NOW))
    assert event.client_ip == "192.0.2.9" and event.sasl_username == "alice" and event.host == "mx1"


def test_a_journal_record_is_judged_by_its_message_not_its_json(tmp_path):
    # A non-UTF-8 HELO makes journald store the message as a list of numbers: the JSON is four times the
    # message. The line limit applies to the message, so the reject is still read.
    message = (b"NOQUEUE: reject: RCPT from unknown[192.0.2.9]: 554 5.7.1 <x@example.com>: Relay access denied; "
               b"from=<a@example.net> to=<x@example.com> proto=ESMTP helo=<" + b"\xff" * 17000 + b">")
    record = {"__REALTIME_TIMESTAMP": "1795860001000000", "_HOSTNAME": "mx1", "SYSLOG_IDENTIFIER": "postfix/smtpd",
              "_PID": "77", "MESSAGE": list(message)}
    path = tmp_path / "journal.json"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    assert path.stat().st_size > 65536
    stats = ParseStats()
    (event,) = read_events(expand_inputs([str(path)]), ReadOptions(now=FROZEN_NOW), stats)
    assert event.client_ip == "192.0.2.9" and event.reply_code == "554" and stats.by_outcome == {"event": 1}


def test_a_lone_surrogate_escaped_in_journal_json_is_an_undecodable_character(tmp_path):
    from typer.testing import CliRunner

    from analyzer.cli import app
    path = tmp_path / "journal.json"  # "\ud800" is valid JSON but no UTF-8 output can hold it
    path.write_text('{"__REALTIME_TIMESTAMP": "1795860001000000", "_HOSTNAME": "mx1", "SYSLOG_IDENTIFIER": '
                    '"postfix/smtpd", "_PID": "77", "MESSAGE": "NOQUEUE: reject: RCPT from unknown[192.0.2.9]: 554 '
                    '5.7.1 <x@example.com>: Relay access denied; from=<a\\ud800b@example.net> to=<x@example.com> '
                    'proto=ESMTP helo=<h>"}\n', encoding="utf-8")
    for format in ("jsonl", "csv"):
        result = CliRunner().invoke(app, ["events", str(path), "--format", format, "--stats"])
        assert result.exit_code == 0 and "a\ufffdb@example.net" in result.stdout, format
        assert "undecodable bytes: 1" in result.stderr


def test_awkward_inputs_are_counted_never_fatal(tmp_path):
    cases = {
        "empty.log": b"",
        "nul.log": _lines(1) + b"\x00\x00 junk \x00\n" + _lines(1, start=1),
        "latin1.log": _lines(1) + "Nov 27 10:00:09 mx1 postfix/smtpd[1]: connect from caf\xe9[192.0.2.1]\n".encode("latin-1"),
        "huge-line.log": _lines(1) + b"Nov 27 10:00:09 mx1 postfix/smtpd[1]: " + b"A" * 1_048_576 + b"\n" + _lines(1, 1),
        "no-final-newline.log": _lines(2).rstrip(b"\n"),
    }
    expected_events = {"empty.log": 0, "nul.log": 2, "latin1.log": 1, "huge-line.log": 2, "no-final-newline.log": 2}
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        stats = ParseStats()
        events = list(read_events(expand_inputs([str(path)]), ReadOptions(now=FROZEN_NOW), stats))
        assert len(events) == expected_events[name], name
        assert sum(stats.by_outcome.values()) == stats.lines_read, name
    stats = ParseStats()
    list(read_events(expand_inputs([str(tmp_path / "huge-line.log")]), ReadOptions(now=FROZEN_NOW), stats))
    assert stats.by_outcome["too-long"] == 1


def test_a_binary_file_is_named_as_a_problem(tmp_path):
    path = tmp_path / "mail.log"
    path.write_bytes(bytes(range(256)) * 400)
    stats = ParseStats()
    assert list(read_events(expand_inputs([str(path)]), ReadOptions(now=FROZEN_NOW), stats)) == []
    assert stats.problems and "binary file" in stats.problems[0]
    assert sum(stats.by_outcome.values()) == stats.lines_read > 0


def test_a_file_growing_while_read_gives_what_was_there(tmp_path):
    path = tmp_path / "mail.log"
    path.write_bytes(_lines(3))
    stream = read_events(expand_inputs([str(path)]), ReadOptions(now=FROZEN_NOW))
    first = next(stream)
    with path.open("ab") as handle:  # the MTA appends while we read
        handle.write(_lines(1, start=3))
    rest = list(stream)
    assert first.client_ip == "192.0.2.10" and len(rest) in (2, 3)


def test_a_file_rotated_while_read_is_read_to_its_end(tmp_path):
    path = tmp_path / "mail.log"
    path.write_bytes(_lines(3))
    stream = read_events(expand_inputs([str(path)]), ReadOptions(now=FROZEN_NOW, engine="line"))
    first = next(stream)
    path.rename(tmp_path / "mail.log.1")  # logrotate moves it away and the MTA starts a new file
    path.write_bytes(_lines(1, start=5))
    assert [first.client_ip] + [e.client_ip for e in stream] == ["192.0.2.10", "192.0.2.11", "192.0.2.12"]


def test_line_cutter_hands_on_whole_lines_and_only_the_start_of_an_endless_one():
    from analyzer.sources import LineCutter
    cutter = LineCutter(longest=10)
    assert cutter.feed(b"one\ntw") == b"one\n" and cutter.carry == b"tw"
    assert cutter.feed(b"o\nthree") == b"two\n"
    assert cutter.feed(b"-and-more") == b"three-and-\n" and cutter.skipping and cutter.carry == b""
    assert cutter.feed(b"still the same line") == b""
    assert cutter.feed(b" ends\nfour\nfi") == b"four\n" and not cutter.skipping
    assert cutter.finish() == b"fi\n" and cutter.finish() == b""
