"""The daily CSV report and the analyze tables, from hand-built events and from the sample logs."""
from __future__ import annotations


import json
from datetime import datetime, timedelta, timezone
import io
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from analyzer import report
from analyzer.aggregate import summarise
from analyzer.classify import Classifier
from analyzer.cli import app
from analyzer.events import Direction, Event, Kind

runner = CliRunner()
UTC = timezone.utc
SAMPLE_LOGS = Path(__file__).resolve().parent.parent / "sample_logs"
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def _summary(events, catalogue):
    return summarise(events, Classifier(catalogue))


def _event(minutes: int, kind=Kind.REJECTED, code="554", enhanced="5.7.1", ip="192.0.2.1", text="Relay access denied",
           sender="a@example.net", recipient="x@example.com", host="mx1") -> Event:
    return Event(timestamp=T0 + timedelta(minutes=minutes), host=host, mta="postfix", kind=kind,
                 direction=Direction.INBOUND, client_ip=ip, sender=sender, recipient=recipient, reply_code=code,
                 enhanced_code=enhanced, reply_text=text)


def test_daily_rows_group_and_count(catalogue):
    events = [_event(0), _event(5, ip="192.0.2.2"), _event(6, ip="192.0.2.2", recipient="y@example.com"),
              _event(60 * 24, ip="192.0.2.3"),
              _event(7, kind=Kind.DELIVERED, code="250", enhanced="2.0.0", ip=None, text="Ok: queued")]
    table = report.daily_report(_summary(events, catalogue), catalogue)
    assert list(table.columns) == report.DAILY_COLUMNS
    assert table[["date", "kind", "reply_code", "entry_id", "count", "distinct_clients",
                  "distinct_recipients"]].values.tolist() == [
        ["2026-11-27", "delivered", "250", "basic-250-requested-action-okay", 1, 0, 1],
        ["2026-11-27", "rejected", "554", "relay-access-denied", 3, 2, 2],
        ["2026-11-28", "rejected", "554", "relay-access-denied", 1, 1, 1]]
    row = table.iloc[1]
    assert row["first_seen"] == "2026-11-27T09:00:00+00:00" and row["last_seen"] == "2026-11-27T09:06:00+00:00"
    assert bool(row["permanent"]) is True and row["title"] == "Relay Access Denied" and row["fix"]


def test_formula_cells_are_neutralised(catalogue):
    table = report.daily_report(_summary([_event(0, text="=HYPERLINK(\"http://x\")"),
                                                     _event(1, text="@SUM(A1)", code="550", enhanced="5.1.1")],
                                                    catalogue), catalogue)
    assert sorted(table["example"]) == ["'=HYPERLINK(\"http://x\")", "'@SUM(A1)"]


def test_summary_rows(catalogue):
    events = [_event(0), _event(1), _event(2, kind=Kind.AUTH_FAILURE, code="535", enhanced="5.7.8", text="x"),
              _event(3, kind=Kind.DELIVERED, code="250", enhanced="2.0.0", text="Ok")]
    table = report.daily_summary(_summary(events, catalogue))
    assert list(table.columns) == report.SUMMARY_COLUMNS
    (row,) = table.to_dict(orient="records")
    assert (row["rejected"], row["auth_failure"], row["delivered"], row["deferred"]) == (2, 1, 1, 0)
    assert (row["top_problem"], row["top_problem_count"]) == ("relay-access-denied", 2)


def test_cli_report_csv_reads_back_with_the_right_dtypes_and_adds_up(tmp_path):
    out = tmp_path / "daily.csv"
    result = runner.invoke(app, ["report", str(SAMPLE_LOGS), "--year", "2026", "--daily", "-o", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert list(table.columns) == report.DAILY_COLUMNS
    for column in ("count", "distinct_clients", "distinct_senders", "distinct_recipients"):
        assert table[column].dtype == "int64", column
    assert table["permanent"].dtype == "bool"
    assert not any(dtype == "float64" for dtype in table.dtypes), table.dtypes
    events = runner.invoke(app, ["events", str(SAMPLE_LOGS), "--year", "2026"])
    assert table["count"].sum() == len(events.stdout.splitlines())
    assert out.read_bytes().count(b"\r\n") == len(table) + 1


def test_cli_report_append_replaces_the_dates_written(tmp_path):
    out = tmp_path / "daily.csv"
    runner.invoke(app, ["report", str(SAMPLE_LOGS), "--year", "2026", "-o", str(out)])
    whole = pd.read_csv(out)
    out.unlink()
    for day in ("2026-11-26", "2026-11-27", "2026-11-27"):  # the second run of a day must not double it
        nxt = (datetime.fromisoformat(day) + timedelta(days=1)).date().isoformat()
        result = runner.invoke(app, ["report", str(SAMPLE_LOGS), "--year", "2026", "--tz", "UTC", "--since", day, "--until", nxt,
                                     "-o", str(out), "--append"])
        assert result.exit_code == 0, result.output
    appended = pd.read_csv(out)
    expected = whole[whole["date"].isin(["2026-11-26", "2026-11-27"])]
    assert appended["count"].sum() == expected["count"].sum()
    assert sorted(appended["date"].unique()) == ["2026-11-26", "2026-11-27"]


def test_cli_report_strftime_output_and_refuses_an_input_as_output(tmp_path):
    log = tmp_path / "mail.log"
    log.write_text((SAMPLE_LOGS / "postfix" / "mail.log").read_text(encoding="utf-8"), encoding="utf-8")
    result = runner.invoke(app, ["report", str(log), "--since", "2026-11-27", "--tz", "UTC",
                                 "-o", str(tmp_path / "daily-%Y-%m-%d.csv")])
    assert result.exit_code == 0 and (tmp_path / "daily-2026-11-27.csv").exists()
    result = runner.invoke(app, ["report", str(log), "-o", str(log)])
    assert result.exit_code == 2 and "is one of the inputs" in result.stderr


def test_failed_report_leaves_the_previous_file_intact(tmp_path):
    out = tmp_path / "daily.csv"
    out.write_text("previous\n", encoding="utf-8")
    result = runner.invoke(app, ["report", str(tmp_path / "missing.log"), "-o", str(out)])
    assert result.exit_code == 2 and out.read_text(encoding="utf-8") == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["daily.csv"]


@pytest.mark.parametrize("summary_table", [False, True])
def test_report_rows_are_written_as_pandas_writes_their_table(tmp_path, catalogue, summary_table):
    from analyzer import ReadOptions, expand_inputs, output, read_events
    options = ReadOptions(year=2026, zone=UTC)
    events = list(read_events(expand_inputs([str(SAMPLE_LOGS)]), options))
    awkward = ['he said "no", then left', "line\rbreak", "=1+1", "日本語の応答, 550", "", "-x", 'a ""quoted"" word']
    events += [_event(minutes, text=text or None, host=f"mx,{minutes}") for minutes, text in enumerate(awkward)]
    for totals in (_summary(events, catalogue), _summary([], catalogue)):
        if summary_table:
            frame, columns, rows = report.daily_summary(totals), report.SUMMARY_COLUMNS, report.daily_summary_rows(totals)
        else:
            frame, columns = report.daily_report(totals, catalogue, "ja"), report.DAILY_COLUMNS
            rows = report.daily_rows(totals, catalogue, "ja")
        output.write_csv(frame, tmp_path / "pandas.csv")
        output.write_rows_csv(columns, rows, tmp_path / "rows.csv")
        written = (tmp_path / "rows.csv").read_bytes()
        assert written == (tmp_path / "pandas.csv").read_bytes()
        assert written.count(b"\r\n") >= len(rows) + 1


def test_analyze_on_the_sample_logs_names_codes_and_fixes():
    result = runner.invoke(app, ["analyze", str(SAMPLE_LOGS), "--year", "2026", "--lang", "en"])
    assert result.exit_code == 0
    text = result.stdout
    assert "Authentication Credentials Invalid" in text and "Relay Access Denied" in text
    assert "203.0.113.45" in text  # the brute-force source tops the auth-failure table
    assert "unrecognised" in text and "of coded events were explained by a reply-text rule" in text
    data = json.loads(runner.invoke(app, ["analyze", str(SAMPLE_LOGS), "--year", "2026", "--format", "json"]).stdout)
    assert data["auth_failures_by_client"][0]["client_ip"] == "203.0.113.45"
    assert data["auth_failures_by_client"][0]["failures"] == 162
    assert data["lines"]["read"] == sum(sum(c.values()) for c in data["lines"]["by_mta"].values())


def test_analyze_japanese_headings():
    result = runner.invoke(app, ["analyze", str(SAMPLE_LOGS), "--year", "2026", "--lang", "ja"])
    assert "応答コード上位" in result.stdout and "推奨される対処" in result.stdout


def test_since_and_until_filter_and_are_counted(tmp_path):
    result = runner.invoke(app, ["events", str(SAMPLE_LOGS), "--year", "2026", "--since", "2026-11-27", "--until", "2026-11-27T12:00",
                                 "--tz", "UTC", "--stats"])
    stamps = [json.loads(line)["timestamp"] for line in result.stdout.splitlines()]
    assert stamps and all("2026-11-27T00:00" <= s < "2026-11-27T12:00" for s in stamps)
    assert "events outside --since/--until" in result.stderr


def test_empty_input_gives_empty_tables(catalogue):
    empty = _summary([], catalogue)
    assert report.daily_report(empty, catalogue).empty and report.daily_summary(empty).empty
    assert report.top_codes(empty, catalogue, "en", 10).empty and report.per_day(empty).empty


def test_progress_line_and_no_decorations_when_piped(tmp_path):
    from analyzer.output import Progress
    from analyzer.sources import expand_inputs
    stream = io.StringIO()
    progress = Progress(expand_inputs([str(SAMPLE_LOGS)]), stream)
    progress(1 << 20, 5000)
    progress.close()
    assert "MiB read" in stream.getvalue() and "lines/s" in stream.getvalue()
    result = runner.invoke(app, ["analyze", str(SAMPLE_LOGS), "--year", "2026"])
    assert "\r" not in result.stderr and "\x1b" not in result.output


def test_every_coded_event_of_the_sample_logs_gets_an_entry(catalogue):
    from analyzer.reader import ReadOptions, read_events
    from analyzer.sources import expand_inputs
    classify = Classifier(catalogue)
    coded = [e for e in read_events(expand_inputs([str(SAMPLE_LOGS)]), ReadOptions(year=2026))
             if e.reply_code or e.enhanced_code]
    assert coded and all(classify(e).entry_id for e in coded)


def test_analyze_shows_the_spikes_of_the_sample_logs():
    data = json.loads(runner.invoke(app, ["analyze", str(SAMPLE_LOGS), "--year", "2026", "--format", "json"]).stdout)
    assert data["auth_failures"] == 348
    assert [s["shape"] for s in data["spikes"]] == ["one_source", "one_source", "distributed", "distributed"]
