"""The command line: exit codes, one-line errors, and what each command prints."""
from __future__ import annotations

import csv
import io
import json

from typer.testing import CliRunner

from analyzer.cli import app

runner = CliRunner()
LINE = ("Nov 27 10:00:01 mx1 postfix/smtpd[2345]: NOQUEUE: reject: RCPT from unknown[192.0.2.10]: 554 5.7.1 "
        "<x@example.com>: Relay access denied; from=<a@example.net> to=<x@example.com> proto=ESMTP helo=<h>\n")
EVENT_KEYS = ["timestamp", "host", "mta", "program", "pid", "queue_id", "kind", "direction", "client_host",
              "client_ip", "relay_host", "relay_ip", "sender", "recipient", "command", "reply_code",
              "enhanced_code", "code_inferred", "reply_text", "sasl_method", "sasl_username", "file", "line_no",
              "entry_id", "category", "permanent", "matched_by", "detail"]


def test_events_jsonl_has_exactly_the_public_fields(tmp_path):
    path = tmp_path / "mail.log"
    path.write_text(LINE + "Nov 27 10:00:02 mx1 postfix/qmgr[9]: 4F2A1C0899: removed\n", encoding="utf-8")
    result = runner.invoke(app, ["events", str(path), "--tz", "UTC"])
    assert result.exit_code == 0
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert list(record) == EVENT_KEYS
    assert record["reply_code"] == "554" and record["enhanced_code"] == "5.7.1"
    assert record["entry_id"] == "relay-access-denied" and record["matched_by"] == "text"
    assert record["timestamp"].endswith("10:00:01+00:00")


def test_events_csv_and_stats(tmp_path):
    path = tmp_path / "mail.log"
    path.write_text(LINE * 2 + "garbage line\n", encoding="utf-8")
    result = runner.invoke(app, ["events", str(path), "--format", "csv", "--stats"])
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 2 and rows[0]["client_ip"] == "192.0.2.10"
    assert "lines read: 3, events: 2" in result.stderr


def test_missing_file_is_one_line_error_and_exit_2(tmp_path):
    result = runner.invoke(app, ["events", str(tmp_path / "missing.log")])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"maillog: error: {tmp_path / 'missing.log'}: no such file"
    assert "Traceback" not in result.output


def test_bad_option_values_are_one_line_errors(tmp_path):
    path = tmp_path / "mail.log"
    path.write_text(LINE, encoding="utf-8")
    for args in (["events", str(path), "--format", "xml"], ["events", str(path), "--mta", "qmail"],
                 ["events", str(path), "--tz", "Mars/Olympus"], ["explain", "999"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, args
        assert result.stderr.startswith("maillog: error: ") and len(result.stderr.strip().splitlines()) == 1


def test_unparsed_lines_are_written_out(tmp_path):
    path = tmp_path / "mail.log"
    odd = "Nov 27 10:00:03 mx1 postfix/smtpd[1]: something new: 451 4.3.0 never seen before\n"
    path.write_text(LINE + odd, encoding="utf-8")
    unparsed = tmp_path / "unparsed.txt"
    result = runner.invoke(app, ["events", str(path), "--unparsed", str(unparsed)])
    assert result.exit_code == 0
    assert unparsed.read_text(encoding="utf-8") == odd


def test_compare_page_in_japanese_has_all_sections():
    result = runner.invoke(app, ["compare", "251", "530", "--lang", "ja"])
    assert result.exit_code == 0
    text = result.stdout
    assert text.startswith("SMTP 251 User Not Local vs 530 Authentication Required\n")
    assert "251 は 2xx 肯定完了 応答、530 は 5xx 永続的否定 応答です。" in text
    positions = [text.index(h) for h in ("説明", "このコードが表示される場合", "解決方法", "主な違い", "どちらをいつ使うか")]
    assert positions == sorted(positions)


def test_compare_in_english_states_the_classes():
    result = runner.invoke(app, ["compare", "251", "530", "--lang", "en"])
    assert "251 is a 2xx Positive Completion response, while 530 is a 5xx Permanent Negative response." \
        in result.stdout


def test_explain_json_gives_one_object_per_argument_in_order():
    result = runner.invoke(app, ["explain", "530", "5.7.8", "Relay access denied", "--format", "json",
                                 "--lang", "en"])
    assert result.exit_code == 0
    pages = json.loads(result.stdout)
    assert [p["entry_id"] for p in pages] == ["basic-530-authentication-required",
                                              "enhanced-x-7-8-auth-credentials-invalid", "relay-access-denied"]
    assert pages[0]["class"] == "5xx Permanent Negative" and pages[0]["permanent"] is True
    assert pages[1]["class"] == "5xx Permanent Negative / Security or Policy Status"


def test_check_patterns_names_the_pattern_and_rule(tmp_path):
    path = tmp_path / "mail.log"
    path.write_text(LINE, encoding="utf-8")
    result = runner.invoke(app, ["check-patterns", str(path)])
    assert result.exit_code == 0
    assert "pattern=postfix.smtpd-reject" in result.stdout and "entry=relay-access-denied" in result.stdout


def test_every_command_has_help_with_an_example():
    for command in ("events", "analyze", "report", "spikes", "watch", "explain", "compare", "check-patterns",
                    "classify-line"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0 and "Example: maillog" in result.stdout, command


def test_the_library_api_is_what_the_readme_shows(tmp_path):
    import analyzer
    path = tmp_path / "mail.log"
    path.write_text(LINE, encoding="utf-8")
    catalogue = analyzer.load_catalogue()
    events = analyzer.read_events(analyzer.expand_inputs([str(path)]), analyzer.ReadOptions())
    summary = analyzer.summarise(events, analyzer.Classifier(catalogue))
    table = analyzer.daily_report(summary, catalogue)
    assert table["entry_id"].tolist() == ["relay-access-denied"] and table["count"].tolist() == [1]
    assert analyzer.detect_mta(LINE) == "postfix"
    assert analyzer.detect_mta("2026-11-28 10:00:00 1tZy4k-000000005Xb-00A1 Completed") == "exim"
    assert analyzer.detect_mta("Nov 28 10:00:00 mx1 sm-mta[1]: 4ASA00hK004567: done") == "sendmail"
    assert analyzer.detect_mta("Nov 28 10:00:00 mx1 dovecot[1]: imap-login: Login") is None
    assert set(analyzer.__all__) <= set(dir(analyzer))


def test_a_broken_pattern_file_stops_a_command_before_any_output(tmp_path, monkeypatch):
    from pathlib import Path

    from analyzer.parsers import PARSERS
    from analyzer.patternfiles import PATTERNS_DIR
    broken = tmp_path / "exim.toml"  # an MTA the input does not hold: its file is still checked first
    text = (PATTERNS_DIR / "lines" / "exim.toml").read_text(encoding="utf-8")
    broken.write_text(text.replace("regex = '^", "regex = '^(unclosed", 1), encoding="utf-8")
    parser = PARSERS["exim"]
    monkeypatch.setattr(parser, "path", broken)
    monkeypatch.setattr(parser, "_patterns", None)
    monkeypatch.setattr(parser, "_by_service", {})
    postfix_logs = str(Path(__file__).resolve().parent.parent / "sample_logs" / "postfix")
    for engine, format in (("auto", "jsonl"), ("line", "jsonl"), ("auto", "csv")):
        result = runner.invoke(app, ["events", postfix_logs, "--year", "2026", "--jobs", "1", "--engine", engine,
                                     "--format", format])
        assert result.exit_code == 2 and result.stdout == "", (engine, format)  # not even the CSV header
        assert "exim.toml" in result.stderr and "does not compile" in result.stderr
    empty = tmp_path / "empty.log"
    empty.write_text("", encoding="utf-8")
    assert runner.invoke(app, ["check-patterns", str(empty)]).exit_code == 2


def test_a_pattern_file_error_from_another_process_keeps_its_message():
    import pickle

    from analyzer.errors import PatternFileError
    error = PatternFileError([f"exim.toml: pattern 'exim.p{n}': field 'regex' does not compile" for n in range(5)])
    back = pickle.loads(pickle.dumps(error))
    assert str(back) == str(error) and back.problems == error.problems


def test_an_unknown_format_is_refused_before_anything_is_read_or_written(tmp_path):
    from pathlib import Path
    logs = str(Path(__file__).resolve().parent.parent / "sample_logs")
    unparsed = tmp_path / "unparsed.log"
    for command in (["analyze", logs, "--unparsed", str(unparsed)], ["spikes", logs], ["events", logs]):
        result = runner.invoke(app, [*command, "--format", "xml"])
        assert result.exit_code == 2 and result.stdout == "" and "unknown format 'xml'" in result.stderr, command
    assert not unparsed.exists()
