"""Nothing defaults to "no event": a line of an MTA is an event, a known line without one, or unknown, and
the unknown ones are counted by both engines and grouped by shape for the postmaster."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from analyzer import blockscan
from analyzer.cli import app
from analyzer.events import ParseStats
from analyzer.parsers import PARSERS
from analyzer.reader import ReadOptions, inspect_line, read_events
from analyzer.shapes import ShapeCounter, line_shape
from analyzer.sources import expand_inputs

from .conftest import FROZEN_NOW

KNOWN_QUIET = [
    "Nov 28 10:00:01 mx1 postfix/smtpd[3001]: connect from mail.example.net[198.51.100.30]",
    "Nov 28 10:00:02 mx1 postfix/qmgr[3006]: 4B2C1D0E9F: removed",
    "2026-11-28 10:00:03 1xWO9r-00022D-Mi Completed",
    "Nov 28 10:00:04 mx1 sm-mta[4100]: STARTTLS=server, relay=mail.example.net [198.51.100.40], version=TLSv1.3, "
    "verify=NO, cipher=TLS_AES_256_GCM_SHA384, bits=256/256",
]
# Lines of each MTA that hold no keyword of any pattern: before, each was counted as a known line.
UNKNOWN = [
    "Nov 28 10:00:05 mx1 postfix/smtpd[3001]: frobnicated the widget of 198.51.100.31",
    "2026-11-28 10:00:06 1xWO9r-00022D-Mi Something Exim 5 will write",
    "Nov 28 10:00:07 mx1 sm-mta[4100]: 4ASB01hK004100: a shape of Sendmail 9",
    # a known shape but for a Unicode space RE2's \S takes and Python's does not: the block engine must not
    # count it in bulk, or the two engines would disagree
    "Nov 28 10:00:08 mx1 postfix/smtpd[3001]: connect from mail\u00a0example.net[198.51.100.30]",
]


def _stats(path, engine: str) -> ParseStats:
    stats = ParseStats()
    list(read_events(expand_inputs([str(path)]), ReadOptions(engine=engine, now=FROZEN_NOW), stats))
    return stats


@pytest.mark.parametrize("engine", ["line", "auto"])
def test_a_line_no_pattern_knows_is_unknown_in_both_engines(tmp_path, engine):
    if engine == "auto" and not blockscan.available():
        pytest.skip("pyarrow is not installed")
    path = tmp_path / "mail.log"
    path.write_text("\n".join(KNOWN_QUIET + UNKNOWN) + "\n", encoding="utf-8")
    stats = _stats(path, engine)
    assert stats.by_outcome["unrecognised"] == len(UNKNOWN)
    assert stats.by_outcome["no-event"] == len(KNOWN_QUIET)
    assert {mta: counts.get("unrecognised", 0) for mta, counts in stats.by_mta.items()} == {
        "postfix": 2, "exim": 1, "sendmail": 1}


def test_every_quiet_line_of_the_sample_logs_is_a_known_shape(tmp_path):
    # sample_logs/ is what the quick start reads: every line of it is an event or a pattern's known line
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent / "sample_logs"
    stats = _stats(root, "line")
    assert stats.by_outcome.get("unrecognised", 0) == 0 and stats.by_outcome["no-event"] > 800


def test_known_quiet_patterns_apply_to_every_service_and_start_with_their_literal():
    # The block engine tests them in bulk, without the literal prefilter and without a service: each must
    # apply to any service, and its regex hold its literal, or the engines could disagree.
    for parser in PARSERS.values():
        for pattern in parser.patterns:
            if not blockscan.claimed_in_bulk(pattern):
                continue
            for line in KNOWN_QUIET:
                found = inspect_line(line, now=FROZEN_NOW)
                if found.pattern_id == pattern.id:
                    assert any(literal in line for literal in pattern.contains), pattern.id


def test_shapes_mask_what_varies_and_keep_the_mta_words():
    first = line_shape("Nov 28 10:00:01 mx1 postfix/smtpd[3001]: connect from mail.example.net[198.51.100.30]")
    second = line_shape("Nov 29 11:11:11 mx2 postfix/submission/smtpd[9]: connect from unknown[2001:db8::7]")
    assert first == second == "postfix/smtpd: connect from <HOST>[<IP>]"
    assert line_shape("2026-11-28 10:00:03 1xWO9r-00022D-Mi <= a@example.org H=mx.example.org [192.0.2.1]:25 "
                      'S=100 T="Hi there"') == 'exim/exim: <ID> <= <ADDR> H=<HOST> [<IP>]:<N> S=<N> T="<TEXT>"'
    # a time of day is a number, not an IPv6 address
    assert line_shape("Nov 28 10:00:01 mx1 sm-mta[1]: 4ASB01hK004100: x delay=00:00:01") == (
        "sendmail/sm-mta: <ID>: x delay=<N>")


def _counted(lines, limit: int = 10_000):
    counter = ShapeCounter(limit=limit)
    for line_no, line in lines:
        counter.add("f", line_no, line)
    return counter.result()


def test_shapes_are_counted_most_frequent_first_and_bounded():
    lines = [(n, f"Nov 28 10:00:01 mx1 postfix/smtpd[1]: thing {n} from [192.0.2.{n % 200}]")
             for n in range(5)] + [(9, "Nov 28 10:00:01 mx1 postfix/smtpd[1]: other shape")]
    shapes, dropped = _counted(lines)
    assert [(s.count, s.text, s.where) for s in shapes] == [
        (5, "postfix/smtpd: thing <N> from [<IP>]", "f:0"), (1, "postfix/smtpd: other shape", "f:9")]
    assert dropped == 0
    many = [(n, f"Nov 28 10:00:01 mx1 postfix/smtpd[1]: word{chr(97 + n % 26)}{chr(97 + n // 26)}")
            for n in range(100)]
    shapes, dropped = _counted(many, limit=10)
    assert len(shapes) == 10 and dropped == 90 and sum(s.count for s in shapes) == 10


def test_check_patterns_shapes_and_analyze_name_the_command(tmp_path):
    path = tmp_path / "mail.log"
    path.write_text("\n".join(KNOWN_QUIET + UNKNOWN + UNKNOWN[:1]) + "\n", encoding="utf-8")
    runner = CliRunner()
    shown = runner.invoke(app, ["check-patterns", str(path), "--unmatched", "--shapes"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == "5 unrecognised lines in 4 shapes"
    assert lines[1] == "       2  postfix/smtpd: frobnicated the widget of <IP>"
    assert lines[2].startswith(f"          e.g. {path}:5: ")
    refused = runner.invoke(app, ["check-patterns", str(path), "--shapes"])
    assert refused.exit_code == 2 and "--unmatched" in refused.output
    analyzed = runner.invoke(app, ["analyze", str(path)])
    assert "5 unrecognised lines" in analyzed.output
    assert "maillog check-patterns FILE --unmatched --shapes" in analyzed.output
    as_json = json.loads(runner.invoke(app, ["analyze", str(path), "--format", "json"]).output)
    assert as_json["lines"]["unrecognised"] == 5


def test_classify_line_shows_every_field_it_extracted():
    runner = CliRunner()
    shown = runner.invoke(app, ["classify-line", "Nov  3 09:05:47 mx1 postfix/smtp[2333]: F95A05B6D4: "
                                "to=<henry@example.com>, relay=mx.example.org[198.51.100.9]:25, delay=0.06, "
                                "dsn=5.1.1, status=bounced (host mx.example.org[198.51.100.9] said: 550 5.1.1 "
                                "no such user (in reply to RCPT TO command))"])
    assert shown.exit_code == 0, shown.output
    assert "relay_host=mx.example.org relay_ip=198.51.100.9 recipient=henry@example.com" in shown.output
    assert "queue_id=F95A05B6D4 command=RCPT TO direction=outbound" in shown.output


@pytest.mark.parametrize("engine", ["line", "auto"])
def test_a_daemons_own_problems_are_counted_apart(tmp_path, engine):
    # Before, a Postfix warning was a known line like any other (and Sendmail's start-up warnings unknown):
    # now each MTA's warnings, errors and panics are daemon-problem lines, in every engine, never events.
    if engine == "auto" and not blockscan.available():
        pytest.skip("pyarrow is not installed")
    path = tmp_path / "mail.log"
    path.write_text("\n".join([
        "Nov 28 11:00:16 mx1 postfix/smtpd[3001]: warning: restriction `reject_x' ignored: no SASL support",
        "Nov 28 11:00:17 mx1 postfix/qmgr[3006]: A6202160031: status=deferred (bounce failed)",
        "2026-11-28 11:00:10 Warning: No server certificate defined; will use a selfsigned one.",
        "Nov 28 11:00:06 mx1 sm-mta[4001]: My unqualified host name (mx1) unknown; sleeping for retry",
        # a warning that names a client is an event, not the daemon's problem
        "Nov 28 11:00:18 mx1 postfix/smtpd[3001]: warning: unknown[192.0.2.91]: SASL LOGIN authentication "
        "failed: authentication failure",
    ] + KNOWN_QUIET) + "\n", encoding="utf-8")
    stats = _stats(path, engine)
    assert {mta: counts.get("daemon-problem", 0) for mta, counts in stats.by_mta.items()} == {
        "postfix": 2, "exim": 1, "sendmail": 1}
    assert stats.by_outcome["event"] == 1 and stats.by_outcome["no-event"] == len(KNOWN_QUIET)
    from analyzer.output import format_stats
    assert "daemon-problem" in format_stats(stats).splitlines()[1]


EXIM_REJECT = ("2026-12-08 01:37:14.306 [21759] H=(badhelo.example.net) [192.0.2.5]:54697 I=[192.0.2.1]:25 "
               "rejected EHLO or HELO badhelo.example.net: bad HELO name")


@pytest.mark.parametrize("engine", ["line", "auto"])
def test_exims_syslog_copy_of_a_reject_log_line_is_not_a_second_event(tmp_path, engine):
    # Exim through syslog writes a main-and-reject log line twice (syslog_duplication, on by default):
    # captured from Exim 4.96, the same traffic gave 26 refusals in syslog and 14 in the main log.
    if engine == "auto" and not blockscan.available():
        pytest.skip("pyarrow is not installed")
    syslog = "Dec  8 01:37:14 vm exim[{pid}]: {prefix}" + EXIM_REJECT.replace("[21759]", "[{pid}]")
    lines = [syslog.format(pid=21759, prefix=""), syslog.format(pid=21759, prefix="[1\\2] "),  # one refusal
             # the client sent EHLO, then HELO, refused alike in one millisecond: two refusals, four lines
             syslog.format(pid=21760, prefix=""), syslog.format(pid=21760, prefix=""),
             syslog.format(pid=21760, prefix=""), syslog.format(pid=21760, prefix=""),
             syslog.format(pid=21761, prefix="")]                                            # another process
    path = tmp_path / "mail.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    stats = _stats(path, engine)
    assert stats.by_outcome["event"] == 4 and stats.by_outcome["no-event"] == 3
    own = tmp_path / "mainlog"  # Exim's own log file has no copies: equal lines are equal events
    own.write_text(EXIM_REJECT + "\n" + EXIM_REJECT + "\n", encoding="utf-8")
    assert _stats(own, engine).by_outcome["event"] == 2


def test_sendmail_queued_is_no_bounce_and_a_deferral_is_never_permanent(catalogue):
    from analyzer.classify import Classifier
    queued = inspect_line("Dec  8 01:59:32 vm sm-mta[1231]: 6B81xWTf001231: to=<x@slow.example>, "
                          "delay=00:00:00, mailer=dsmtp, pri=30165, stat=queued", now=FROZEN_NOW).events
    assert [e.kind.value for e in queued] == ["other"]
    deferred = inspect_line("Dec 08 01:51:58 vm postfix/smtp[28081]: 658A8160597: to=<x@refuse.example>, "
                            "relay=127.0.0.1[127.0.0.1]:2527, delay=0.05, delays=0/0.04/0/0, dsn=4.7.1, "
                            "status=deferred (host 127.0.0.1[127.0.0.1] refused to talk to me: 554 5.7.1 not "
                            "accepting messages)", now=FROZEN_NOW).events
    assert [(e.kind.value, e.reply_code, e.enhanced_code) for e in deferred] == [("deferred", "554", "4.7.1")]
    assert Classifier(catalogue)(deferred[0]).permanent is False
