"""The block engine (pyarrow) and the line engine give the same events and the same line counts."""
from __future__ import annotations

import gzip
from datetime import datetime
from pathlib import Path

import pytest

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
    line_events, line_stats = _run(paths, "line", **options)
    block_events, block_stats = _run(paths, "auto", **options)
    assert block_events == line_events
    assert dict(block_stats.by_outcome) == dict(line_stats.by_outcome)
    assert {m: dict(c) for m, c in block_stats.by_mta.items()} == {m: dict(c) for m, c in line_stats.by_mta.items()}
    assert (block_stats.lines_read, block_stats.undecodable_lines) == (line_stats.lines_read,
                                                                        line_stats.undecodable_lines)
    return line_events, line_stats


def test_sample_logs():
    events, stats = _assert_same([str(ROOT / "sample_logs")])
    assert len(events) > 500 and stats.lines_read > 1500


def test_annotated_samples_as_logs(tmp_path):
    # The test samples without their annotations: every line shape we know, plus near-misses.
    for sample in sorted((ROOT / "tests" / "samples").glob("*.log")):
        lines = [l for l in sample.read_text(encoding="utf-8").splitlines() if l and not l.startswith("#")]
        (tmp_path / sample.name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    _assert_same([str(tmp_path)])


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
