"""The block engine (pyarrow), the columnar parse (polars) and the line engine give the same events and the same
line counts."""
from __future__ import annotations

import gzip
import tempfile
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer import blockscan
from analyzer.events import ParseStats, event_record
from analyzer.reader import ReadOptions, read_events
from analyzer.sources import expand_inputs
from bench.generate import generate_lines

from .conftest import FROZEN_NOW

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not blockscan.available(), reason="pyarrow is not installed")


def _run(paths: list[str], engine: str, **options):
    stats = ParseStats()
    events = [event_record(e) for e in read_events(expand_inputs(paths), ReadOptions(engine=engine, now=FROZEN_NOW,
                                                                                        **options), stats)]
    return events, stats


def _assert_same(paths: list[str], **options):
    """The block engine and the columnar parse (frames) against the line engine."""
    line_events, line_stats = _run(paths, "line", **options)
    for engine in ("auto", "frames"):
        block_events, block_stats = _run(paths, engine, **options)
        assert block_events == line_events, engine
        assert dict(block_stats.by_outcome) == dict(line_stats.by_outcome), engine
        assert ({m: dict(c) for m, c in block_stats.by_mta.items()}
                == {m: dict(c) for m, c in line_stats.by_mta.items()}), engine
        assert (block_stats.lines_read, block_stats.undecodable_lines) == (line_stats.lines_read,
                                                                            line_stats.undecodable_lines), engine
    return line_events, line_stats


def test_sample_logs():
    events, stats = _assert_same([str(ROOT / "sample_logs")])
    assert len(events) > 500 and stats.lines_read > 1500


def _samples_as_logs(folder: Path) -> str:
    """The test samples without their annotations, as logs in `folder`: every line shape we know, plus
    near-misses."""
    for sample in sorted((ROOT / "tests" / "samples").glob("*.log")):
        lines = [l for l in sample.read_text(encoding="utf-8").splitlines() if l and not l.startswith("#")]
        (folder / sample.name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(folder)


def test_annotated_samples_as_logs(tmp_path):
    _assert_same([_samples_as_logs(tmp_path)])


@pytest.mark.parametrize("mta", ["postfix", "exim", "sendmail"])
def test_generated_logs_with_two_hosts(tmp_path, mta):
    path = tmp_path / f"{mta}.log.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for line in generate_lines(mta, 30000, 7, datetime(2026, 11, 20), days=2, hosts=("mx1", "mx2")):
            handle.write(line + "\n")
    events, _ = _assert_same([str(path)])
    assert events


def test_awkward_bytes_forced_mta_and_a_block_boundary(tmp_path, monkeypatch):
    monkeypatch.setattr(blockscan, "BLOCK_BYTES", 4096)  # many blocks, lines cut across reads
    reject = ("Nov 27 10:00:01 mx1 postfix/smtpd[2345]: NOQUEUE: reject: RCPT from unknown[192.0.2.10]: 554 5.7.1 "
              "<x@example.com>: Relay access denied; from=<a@example.net> to=<x@example.com> proto=ESMTP helo=<h>")
    quiet = "Nov 27 10:00:02 mx1 postfix/qmgr[9]: 4F2A1C0899: removed"
    other = "Nov 27 10:00:03 mx1 dovecot[77]: imap-login: Login: user=<bob>"
    rfc5424 = ["<22>1 2026-11-27T10:00:04Z mx1 postfix/qmgr 9 - - 4F2A1C0899: removed",
               "<22>1 2026-11-27T10:00:05Z mx1 sm-mta 9 - [x y=\"1\"] 4ASA00hK004567: from=<a@example.net>, size=1",
               "<30>1 2026-11-27T10:00:06Z mx1 dovecot 9 - - imap-login: Login", "<22>" + quiet, "<22>1 junk"]
    body = "\n".join([reject, quiet, other, "garbage", "x" * 70000, quiet + "\r", reject + "\r", *rfc5424] * 40)
    (tmp_path / "mixed.log").write_text(body, encoding="utf-8")
    (tmp_path / "bad.log").write_bytes(body.encode() + b"\n\xff\xfe\x00 bad bytes\n" + quiet.encode())
    _assert_same([str(tmp_path / "mixed.log"), str(tmp_path / "bad.log")])
    _assert_same([str(tmp_path / "mixed.log")], mta="postfix")


def test_lines_without_end_and_bare_carriage_returns(tmp_path, monkeypatch):
    # Both engines end lines at LF only, and neither holds a line without end in memory: its start is
    # counted as one too-long line and the lines after it are read as usual.
    monkeypatch.setattr(blockscan, "BLOCK_BYTES", 65536)
    reject = ("Nov 27 10:00:01 mx1 postfix/smtpd[2345]: NOQUEUE: reject: RCPT from unknown[192.0.2.10]: 554 5.7.1 "
              "<x@example.com>: Relay access denied; from=<a@example.net> to=<x@example.com> proto=ESMTP helo=<h>")
    endless = "é" * 400_000  # 800,000 bytes and no line end: longer than a block and than the line limit
    (tmp_path / "endless.log").write_text(f"{reject}\n{endless}\n{reject}\r\n{endless}", encoding="utf-8")
    (tmp_path / "cr.log").write_text(f"{reject}\r{reject}\r{reject}\n{reject}\r", encoding="utf-8")
    events, stats = _assert_same([str(tmp_path / "endless.log")])
    assert len(events) == 2 and stats.lines_read == 4 and stats.by_outcome["too-long"] == 2
    events, stats = _assert_same([str(tmp_path / "cr.log")])
    # Three replies glued by CRs are one line of no shape we know: reported, not split into events.
    assert stats.lines_read == 2 and [e["line_no"] for e in events] == [2]
    assert stats.by_outcome["unrecognised"] == 1


def test_masks_cross_between_numpy_and_arrow_bit_for_bit():
    np, pa = blockscan.np, blockscan.pa
    values = [bool(int(bit)) for bit in "1101000111010110011"]  # 19: not a whole number of bytes
    arrow = pa.array(values)
    for start in range(0, 9):
        assert blockscan._bools(arrow.slice(start)).tolist() == values[start:]
    back = blockscan._arrow_bools(np.array(values))
    assert back.to_pylist() == values


def test_report_reads_a_log_without_importing_pandas(tmp_path):
    # pandas takes 0.2 s to import; report and the block scan must not pull it in (pyarrow does so on
    # pa.array, to_numpy and Python scalars).
    import subprocess
    import sys
    script = ("import sys\nfrom analyzer.cli import main\n"
              f"sys.argv = ['maillog', 'report', '--daily', '--jobs', '1', {str(ROOT / 'sample_logs')!r}, "
              f"'-o', {str(tmp_path / 'daily.csv')!r}]\n"
              "try:\n    main()\nexcept SystemExit as end:\n    assert not end.code, end.code\n"
              "print('pandas' in sys.modules, 'pyarrow' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.split() == ["False", "True"]
    assert (tmp_path / "daily.csv").stat().st_size > 0


QUIET = "4F2A1C0899: removed"
REJECT = ("NOQUEUE: reject: RCPT from unknown[192.0.2.10]: 554 5.7.1 <x@example.com>: Relay access denied; "
          "from=<a@example.net> to=<x@example.com> proto=ESMTP helo=<h>")
# Broken and odd syslog headers, each read with a quiet message and with a reject ("{}" is the message).
MALFORMED_HEADERS = [
    "Nov 27 10:00:01 mx1 [2345]: {}",                       # no program
    "Nov 27 10:00:01 mx1 : {}",
    "Nov 27 10:00:01 mx1 postfix/smtpd[2345] {}",           # no colon
    "Nov 27 10:00:01 mx1 postfix/smtpd {}",
    "Xyz 27 10:00:01 mx1 postfix/smtpd[2345]: {}",          # no such month
    "nov 27 10:00:01 mx1 postfix/smtpd[2345]: {}",
    "Nov 32 10:00:01 mx1 postfix/smtpd[2345]: {}",          # no such day
    "Nov 27 25:61:00 mx1 postfix/smtpd[2345]: {}",          # no such time
    "Nov 27  10:00:01 mx1 postfix/smtpd[2345]: {}",         # extra spaces
    "Nov 27 10:00:01  mx1 postfix/smtpd[2345]: {}",
    "Nov 27 10:00:01 mx1  postfix/smtpd[2345]: {}",
    "Nov 27 10:00:01 mx1 postfix/smtpd[2345]:  {}",
    "Nov 7 10:00:01 mx1 postfix/smtpd[2345]: {}",
    "Nov\t27 10:00:01 mx1 postfix/smtpd[2345]: {}",         # tabs
    "Nov 27 10:00:01\tmx1 postfix/smtpd[2345]: {}",
    "Nov 27 10:00:01 mx1\tpostfix/smtpd[2345]: {}",
    "Nov 27 10:00:01 mx1 postfix/smtpd[2345]:\t{}",
    "Nov 27 10:00:01 mx1 postfix/smtpd[2345: {}",           # "[pid" without "]"
    "Nov 27 10:00:01 mx1 postfix/smtpd[]: {}",
    "Nov 27 10:00:01 mx1 postfix/smtpd[x]: {}",
    "Nov 27 10:00:01 mx1 postfix/smtpd[99999999999]: {}",
    "Nov 27 10:00:01 mx1 postfix/smtpd[2345][1]: {}",
    "Nov 27 10:00:01 mx1 postfix/smtpd[2345]x: {}",
    "Nov 27 10:00:01 mx1 postfix/smtpd:[2345]: {}",
    "Nov 27 10:00:01 mx1 postfix/smtpd[2345]:: {}",
    "Nov 27 10:00:01 mx1 post fix/smtpd[2345]: {}",         # a program name with spaces
    "Nov 27 10:00:01 mx1 postfix/smtpd [2345]: {}",
    "Nov 27 10:00:01 mx1 postfix/" + "q" * 200 + "[2345]: {}",
    "Nov 27 10:00:01 " + "h" * 300 + " postfix/smtpd[2345]: {}",
    "Nov 27 10:00:01 mx1 po\u017ftfix/smtpd[2345]: {}",
    "Nov 27 10:00:01 mx1 p\u00f6stfix/smtpd[2345]: {}",
    "Nov 27 10:00:01.5 mx1 p\u00f6stfix/smtpd[2345]: {}",
    "Nov 27 10:00:01 mx1 postfix/smtpd[2345]:",             # no message
    "Nov 27 10:00:01 mx1 postfix/smtpd[2345]: ",
    "Nov 27 10:00:01",                                      # only a timestamp
    "Nov 27 10:00:01 mx1",
    "2026-11-27 10:00:01",
    "2026-11-27 10:00:01 ",
    "2026-11-27T10:00:01xyz mx1 postfix/smtpd[2345]: {}",
    "<22>",                                                 # <PRI> without a header
    "<22>{}",
    "<22>Nov 27 10:00:01",
    "<22> Nov 27 10:00:01 mx1 postfix/smtpd[2345]: {}",
    "<2222>Nov 27 10:00:01 mx1 postfix/smtpd[2345]: {}",
    "<22>1 2026-11-27T10:00:04Z mx1 postfix/smtpd 2345 - {}",  # RFC 5424 with missing fields
    "<22>1 2026-11-27T10:00:04Z mx1 postfix/smtpd 2345 {}",
    "<22>1 2026-11-27T10:00:04Z mx1 - 2345 - - {}",
    "<22>1 2026-11-27T10:00:04Z mx1 postfix/smtpd - - - {}",
    "<22>1 - mx1 postfix/smtpd 2345 - - {}",
    "<22>1 - - p/smtpd - - -",
    "<22>1 2026-11-27T10:00:04Z mx1 postfix/smtpd 2345 - [x {}",
    "<22>1 2026-11-27T10:00:04Z mx1 postfix/smtpd 2345 - -",
    "Nov 27 10:00:01 mx1 dovecot[77] {}",
    "Nov 27 10:00:01 mx1 dovecot/imap[77]: {}",
    "Nov 27 10:00:01 mx1 sendmailer[77]: {}",
    "Nov 27 10:00:01 mx1 postfix/smtpd[2345]: \ufffd {}",  # written as U+FFFD: counted as undecodable
]


def _counts(stats: ParseStats):
    return ({mta: dict(counts) for mta, counts in stats.by_mta.items()}, stats.lines_read, stats.undecodable_lines)


def _read_one_line(line: str, **options) -> dict:
    """What each engine makes of a file of this one line: {engine: (events, counts)}."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "one.log"
        path.write_text(line + "\n", encoding="utf-8")
        results = {}
        for engine in ("line", "auto"):
            events, stats = _run([str(path)], engine, **options)
            results[engine] = (events, _counts(stats))
        return results


@pytest.mark.parametrize("mta", [None, "postfix"])
def test_malformed_headers_get_one_outcome_from_both_engines(tmp_path, mta):
    lines = [template.format(message) for template in MALFORMED_HEADERS for message in (QUIET, REJECT)]
    read = {line: _read_one_line(line, mta=mta) for line in lines}
    assert [line for line, results in read.items() if results["auto"] != results["line"]] == []
    (tmp_path / "all.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _assert_same([str(tmp_path / "all.log")], mta=mta)


def _outcome(line: str) -> str:
    _events, (by_mta, _lines, _undecodable) = _read_one_line(line)["auto"]
    ((mta, counts),) = by_mta.items()
    ((outcome, _count),) = counts.items()
    return f"{mta} {outcome}"


@pytest.mark.parametrize(("line", "outcome"), [
    # A reply with a bad date is still a reject the postmaster must count (its time is unknown).
    (f"Nov 32 10:00:01 mx1 postfix/smtpd[2345]: {REJECT}", "postfix event"),
    (f"Nov 27 25:61:00 mx1 postfix/smtpd[2345]: {REJECT}", "postfix event"),
    # A reject behind a damaged tag reaches --unparsed, where it is seen; a quiet line there is a known
    # one when its message is whole, and unknown when the tab cut it ("removed" alone is no line).
    (f"Nov 27 10:00:01 mx1 postfix/smtpd[2345: {REJECT}", "postfix unrecognised"),
    (f"Nov 27 10:00:01 mx1 postfix/qmgr[9: {QUIET}", "postfix no-event"),
    (f"Nov 27 10:00:01 mx1 postfix/qmgr[9]:\t{QUIET}", "postfix unrecognised"),
    # No header that syslog writes: not a line of a mail server.
    (f"Nov 27 10:00:01 mx1 postfix/smtpd[2345] {REJECT}", "- foreign"),
    (f"Nov 27 10:00:01 mx1 postfix/{'q' * 200}[9]: {QUIET}", "- foreign"),
    ("2026-11-27 10:00:01", "- foreign"),
    (f"<22>1 2026-11-27T10:00:04Z mx1 postfix/qmgr 9 - {QUIET}", "- foreign"),
])
def test_what_a_malformed_header_counts_as(line, outcome):
    assert _outcome(line) == outcome


HEADER_PARTS = {
    "pri": ["", "<22>", "<2222>", "<x>", "<22> "],
    "stamp": ["Nov 27 10:00:01", "Nov  7 10:00:01", "Nov 7 10:00:01", "nov 27 10:00:01", "Nov 32 10:00:01",
              "Nov 27 25:61:00", "Nov 27 10:00:01.123", "Nov 27 10:00:01,5", "2026-11-27T10:00:01Z",
              "2026-11-27T10:00:01.5+01:00", "2026-11-27 10:00:01", "2026-11-27 10:00:01 [12]", "Nov 27", ""],
    "space": [" ", "  ", "\t", ""],
    "host": ["mx1", "", "h" * 260, "mx\u00e91", "mx1:25", "[192.0.2.1]"],
    "program": ["postfix/qmgr", "postfix/smtpd", "postfix-out/smtp", "mail/smtpd", "POSTFIX/qmgr", "sm-mta",
                "sendmail", "SendMail", "exim", "exim4", "dovecot", "post fix/qmgr", "", "postfix/" + "q" * 130,
                "x" * 130, "p\u00f6stfix/qmgr", "dovecot/imap", "sm-mta/x", "-", "exim/smtpd"],
    "pid": ["", "[9]", "[9", "[]", "[x]", "[99999999999]", "[9][10]", " [9]", "[9]x"],
    "colon": [": ", ":", " ", "::", ":\t", "", ":  "],
    "message": [QUIET, REJECT, "", "1abcde-000001-AB Completed", "4ASA00hK004567: from=<a@example.net>, size=1"],
}
RFC5424_PARTS = {
    "stamp": ["2026-11-27T10:00:04Z", "-", "2026-11-27T10:00:04.123456+01:00", "x"],
    "host": ["mx1", "-", "h" * 260],
    "app": ["postfix/qmgr", "postfix/smtpd", "sm-mta", "exim", "-", "dovecot", "a" * 50, "p:q/smtpd"],
    "procid": ["9", "-", "x9"],
    "msgid": ["-", "ID1"],
    "data": ["-", "[a b=\"1\"]", "[x", ""],
}


def _syslog_lines():
    parts = {name: st.sampled_from(values) for name, values in HEADER_PARTS.items()}
    rfc3164 = st.builds(lambda pri, stamp, space, host, program, pid, colon, message:
                        f"{pri}{stamp}{space}{host} {program}{pid}{colon}{message}", **parts)
    fields = {name: st.sampled_from(values) for name, values in RFC5424_PARTS.items()}
    rfc5424 = st.builds(lambda stamp, host, app, procid, msgid, data, message:
                        f"<22>1 {stamp} {host} {app} {procid} {msgid} {data} {message}".rstrip(" "),
                        message=parts["message"], **fields)
    return st.one_of(rfc3164, rfc5424)


@settings(max_examples=200, deadline=None)
@given(line=_syslog_lines())
def test_header_variations_get_one_outcome_from_both_engines(line):
    with_lines, with_blocks = _read_one_line(line).values()
    assert with_blocks == with_lines


def _folded(paths: list[str], engine: str, **options):
    """Everything `analyze` and `report` print, folded by one engine: the daily rows, the summary's
    counters and top lists with their payloads, and the spikes."""
    from analyzer import parallel, report, spikes
    from analyzer.catalogue import load_catalogue
    job = parallel.Job("analysis", ReadOptions(engine=engine, now=FROZEN_NOW, **options), (), spikes.SpikeSettings())
    results = [parallel.run_unit(source, job) for source in expand_inputs(paths)]
    summary, tally = results[0].payload
    for result in results[1:]:
        parallel.merge_payloads("analysis", (summary, tally), result.payload)
    found = spikes.find_spikes(tally)
    tops = {name: (top.most_common(10_000), dict(top.payloads) if name != "auth_sources" else
                   {key: (source.usernames.count(), source.first_seen, source.last_seen)
                    for key, source in top.payloads.items()})
            for name, top in (("rejected", summary.rejected_clients), ("failing", summary.failing_domains),
                              ("auth_sources", summary.auth_sources))}
    return (list(report.daily_rows(summary, load_catalogue(None), "en")), list(report.daily_summary_rows(summary)),
            dict(summary.kinds), dict(summary.codes), summary.events, summary.coded_events, summary.text_matched,
            tops, [spike.record() for spike in found.spikes], [offender.record() for offender in found.offenders],
            found.failures, found.failures_without_time, results[0].stats.events_outside_range)


def _assert_same_fold(paths: list[str], **options):
    """The columnar fold of the frames engine's batches against the event-by-event fold of the line engine's
    events."""
    by_events = _folded(paths, "line", **options)
    assert _folded(paths, "frames", **options) == by_events
    return by_events


def test_columnar_fold_of_the_sample_logs():
    daily = _assert_same_fold([str(ROOT / "sample_logs")])[0]
    assert len(daily) > 50


def test_columnar_fold_of_annotated_samples(tmp_path):
    _assert_same_fold([_samples_as_logs(tmp_path)])


@pytest.mark.parametrize("mta", ["postfix", "exim", "sendmail"])
def test_columnar_fold_of_generated_logs_in_a_window(tmp_path, mta, monkeypatch):
    monkeypatch.setattr(blockscan, "BLOCK_BYTES", 64 << 10)  # many batches: rows carried across them
    path = tmp_path / f"{mta}.log"
    lines = list(generate_lines(mta, 20000, 11, datetime(2026, 11, 20), days=3, hosts=("mx1", "mx2")))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    whole = _assert_same_fold([str(path)])
    assert whole[0] and whole[8] is not None
    since, until = datetime(2026, 11, 21, 6, tzinfo=FROZEN_NOW.tzinfo), datetime(2026, 11, 22, 18, tzinfo=FROZEN_NOW.tzinfo)
    windowed = _assert_same_fold([str(path)], since=since, until=until)
    assert windowed[-1] > 0 and len(windowed[0]) < len(whole[0])


def test_columnar_fold_of_events_without_a_usable_time(tmp_path):
    # A batch may start with an event whose line has no usable time (Nov 31): kept, counted, in no row.
    reject = ("{stamp} mx1 postfix/smtpd[2345]: NOQUEUE: reject: RCPT from unknown[192.0.2.{n}]: 554 5.7.1 "
              "<x@example.com>: Relay access denied; from=<a@example.net> to=<x@example.com> proto=ESMTP helo=<h>")
    lines = [reject.format(stamp="Nov 31 10:00:01", n=1), reject.format(stamp="Nov 30 10:00:01", n=2),
             reject.format(stamp="Nov 31 10:00:02", n=3), reject.format(stamp="Nov 30 10:00:03", n=2)]
    (tmp_path / "mail.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    folded = _assert_same_fold([str(tmp_path / "mail.log")], year=2026)
    assert folded[4] == 4 and len(folded[0]) == 1  # four events; the two with a time share one daily row


def test_columnar_fold_in_worker_processes(tmp_path, monkeypatch):
    # This process has run polars already: its workers must not be forks of it (they would wait forever for
    # polars threads they do not have), and their folds merge to what one process folds.
    from analyzer import parallel, spikes
    monkeypatch.setattr(parallel, "MIN_RANGE_BYTES", 1 << 20)
    path = tmp_path / "mail.log"
    path.write_text("\n".join(generate_lines("postfix", 40000, 5, datetime(2026, 11, 20), days=2)) + "\n",
                    encoding="utf-8")
    _folded([str(path)], "frames")
    job = parallel.Job("summary", ReadOptions(engine="frames", now=FROZEN_NOW), (), spikes.SpikeSettings())
    units = parallel.plan_units(expand_inputs([str(path)]), 2, job.options)
    assert len(units) >= 2
    pooled = parallel.collect(expand_inputs([str(path)]), job, 2)
    alone = parallel.collect(expand_inputs([str(path)]), job, 1)
    assert pooled[0].daily.keys() == alone[0].daily.keys()
    assert [row.count for row in pooled[0].daily.values()] == [row.count for row in alone[0].daily.values()]
