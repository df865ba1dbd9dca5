from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import random
import zlib

import pytest
from typer.testing import CliRunner

from analyzer.cli import app
from analyzer.errors import InputError
from analyzer.events import ParseStats
from analyzer.reader import ReadOptions, read_events
from analyzer.sources import expand_inputs, open_binary, read_lines

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


def _varied_lines(count: int) -> bytes:
    """Lines that compress about 7:1, as real ones do, so that a compressed file spans many reads."""
    rng = random.Random(count)
    return "".join(f"Nov 27 10:{i // 60 % 60:02d}:{i % 60:02d} mx1 postfix/smtpd[{rng.randrange(1, 99999)}]: NOQUEUE: "
                   f"reject: RCPT from unknown[192.0.2.{rng.randrange(256)}]: 554 5.7.1 <{rng.getrandbits(40):x}@"
                   f"example.com>: Relay access denied; from=<{rng.getrandbits(32):x}@example.net> "
                   f"to=<{rng.getrandbits(40):x}@example.com> proto=ESMTP helo=<h{rng.getrandbits(24):x}.example.net>\n"
                   for i in range(count)).encode()


SMALL, BIG = _varied_lines(9), _varied_lines(6000)  # BIG: 1.4 MB, over 160 KB compressed by each tool


def _line_count(data: bytes) -> int:
    return data.count(b"\n") + (bool(data) and not data.endswith(b"\n"))


def _recoverable(member: bytes) -> bytes:
    """What an incremental zlib decompressor hands out of one damaged gzip member before it fails: the
    output of the longest start of the member that it takes without an error."""
    good, bad = 0, len(member) + 1
    while bad - good > 1:
        middle = (good + bad) // 2
        try:
            zlib.decompressobj(31).decompress(member[:middle])
            good = middle
        except zlib.error:
            bad = middle
    return zlib.decompressobj(31).decompress(member[:good])


def _assert_read_as(path, expected: bytes, problem: str | None) -> None:
    """Both engines, through the library and the CLI, read the lines of `expected` and name `problem`."""
    problems: list[str] = []
    with open_binary(expand_inputs([str(path)])[0], problems) as stream:
        assert b"".join(iter(lambda: stream.read(1 << 16), b"")) == expected
    assert len(problems) == (problem is not None) and all(problem in text for text in problems), problems
    lines = _line_count(expected)
    if expected and not expected.endswith(b"\n"):  # the partial last line is given, as zcat prints it
        *_, last = read_lines(expand_inputs([str(path)])[0], [])
        assert last == expected.rpartition(b"\n")[2].decode()
    for engine in ("line", "auto"):
        stats = ParseStats()
        list(read_events(expand_inputs([str(path)]), ReadOptions(now=FROZEN_NOW, engine=engine), stats))
        assert stats.lines_read == lines, engine
        assert len(stats.problems) == (problem is not None) and all(problem in text for text in stats.problems)
        engine_option = ["--engine", "line"] if engine == "line" else []  # the default engine is "auto"
        result = CliRunner().invoke(app, ["events", str(path), "--stats", *engine_option])
        warnings = [line for line in result.stderr.splitlines() if line.startswith("maillog: warning: ")]
        assert (result.exit_code, len(warnings)) == ((3, 1) if problem else (0, 0)), (engine, result.stderr)
        assert f"lines read: {lines}," in result.stderr, engine
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize("data, cut", [(SMALL, 0.5), (SMALL, 0.8), (BIG, 0.3), (BIG, 0.55), (BIG, 0.9)],
                         ids=["small-half", "small-0.8", "big-0.3", "big-0.55", "big-0.9"])
def test_a_truncated_gzip_gives_every_line_that_decompresses(tmp_path, data, cut):
    start = gzip.compress(data)[:int(len(gzip.compress(data)) * cut)]
    path = tmp_path / "mail.log.2.gz"
    path.write_bytes(start)
    expected = zlib.decompressobj(31).decompress(start)  # what zcat prints
    assert 0 < len(expected) < len(data)
    _assert_read_as(path, expected, "gzip data cut short")


def test_gzip_with_trailing_garbage_gives_every_line_and_names_the_garbage(tmp_path):
    path = tmp_path / "mail.log.1.gz"
    path.write_bytes(gzip.compress(BIG) + b"\x00\x00not gzip at all\n")
    _assert_read_as(path, BIG, "trailing garbage ignored")


def test_gzip_with_a_bad_crc_gives_every_line_and_says_the_check_failed(tmp_path):
    damaged = bytearray(gzip.compress(BIG))
    damaged[-8] ^= 0x01  # the trailer: CRC-32, then the size
    path = tmp_path / "mail.log.1.gz"
    path.write_bytes(damaged)
    _assert_read_as(path, BIG, "gzip check failed (incorrect data check)")


def test_gzip_corrupt_in_the_middle_gives_the_lines_before_the_damage(tmp_path):
    whole = gzip.compress(BIG)
    for offset in range(len(whole) // 2, len(whole)):  # the first byte whose damage the deflate decoder notices
        damaged = whole[:offset] + bytes([whole[offset] ^ 0xFF]) + whole[offset + 1:]
        try:
            zlib.decompressobj(31).decompress(damaged)
        except zlib.error as exc:
            if "check" not in str(exc):
                break
    expected = _recoverable(damaged)
    assert len(BIG) // 3 < len(expected) < len(BIG)
    path = tmp_path / "mail.log.1.gz"
    path.write_bytes(damaged)
    _assert_read_as(path, expected, "corrupt gzip data after")


@pytest.mark.parametrize("damage", ["first-member-bad-crc", "second-member-cut-short"])
def test_two_member_gzip_is_read_whole_past_a_damaged_member(tmp_path, damage):
    first, second = gzip.compress(BIG[:700_000]), gzip.compress(BIG[700_000:])  # as `cat a.gz b.gz` makes
    path = tmp_path / "mail.log.1.gz"
    path.write_bytes(first + second)
    _assert_read_as(path, BIG, None)
    if damage == "first-member-bad-crc":
        path.write_bytes(first[:-8] + bytes([first[-8] ^ 0x01]) + first[-7:] + second)
        _assert_read_as(path, BIG, "gzip check failed")
    else:
        path.write_bytes(first + second[:len(second) // 2])
        _assert_read_as(path, BIG[:700_000] + zlib.decompressobj(31).decompress(second[:len(second) // 2]),
                        "gzip data cut short")


DECOMPRESSORS = {"bzip2": (bz2.compress, bz2.BZ2Decompressor), "xz": (lzma.compress, lzma.LZMADecompressor)}


@pytest.mark.parametrize("kind, cut", [("bzip2", 0.8), ("bzip2", 0.97), ("xz", 0.3), ("xz", 0.7)],
                         ids=["bzip2-0.8", "bzip2-0.97", "xz-0.3", "xz-0.7"])
def test_truncated_bzip2_and_xz_give_every_line_that_decompresses(tmp_path, kind, cut):
    compress, decompressor = DECOMPRESSORS[kind]
    start = compress(BIG)[:int(len(compress(BIG)) * cut)]
    path = tmp_path / "mail.log.2"
    path.write_bytes(start)
    # What bzcat and xzcat print: bzip2 gives nothing of a block cut short (the second of two here)
    expected = decompressor().decompress(start)
    assert len(expected) < len(BIG)
    _assert_read_as(path, expected, f"{kind} data cut short")


@pytest.mark.parametrize("kind, between, after, problem", [
    ("bzip2", b"", b"trailing junk", "trailing garbage ignored"),        # as pbzip2 writes, then junk
    ("xz", b"\x00" * 4, b"", None),                                       # stream padding, as the xz format allows
    ("xz", b"", b"trailing junk", "trailing garbage ignored"),
    ("bzip2", b"", None, "bzip2 data cut short"),                        # None: the second stream is cut short
    ("xz", b"\x00" * 8, None, "xz data cut short"),
], ids=["bzip2-garbage", "xz-padding", "xz-garbage", "bzip2-cut", "xz-padding-cut"])
def test_multi_stream_bzip2_and_xz_are_read_whole(tmp_path, kind, between, after, problem):
    compress, decompressor = DECOMPRESSORS[kind]
    first, second = compress(BIG[:900_000]), compress(BIG[900_000:])
    expected = BIG
    if after is None:
        second = second[:len(second) // 2]
        expected, after = BIG[:900_000] + decompressor().decompress(second), b""
    path = tmp_path / "mail.log.3"
    path.write_bytes(first + between + second + after)
    _assert_read_as(path, expected, problem)


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
