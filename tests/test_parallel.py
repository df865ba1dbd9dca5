"""--jobs and the Dask engine give exactly the output of one process reading line after line."""
from __future__ import annotations

import gzip
import io
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest

from analyzer import blockscan, parallel, report
from analyzer.catalogue import load_catalogue
from analyzer.render import format_spikes
from analyzer.reader import ReadOptions
from analyzer.sources import expand_inputs
from analyzer.spikes import SpikeSettings, find_spikes
from bench.generate import generate_lines

from .conftest import FROZEN_NOW

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not blockscan.available(), reason="pyarrow is not installed")


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> list[str]:
    folder = tmp_path_factory.mktemp("logs")
    paths = []
    for mta in ("postfix", "exim", "sendmail"):
        path = folder / f"{mta}.log"
        with path.open("w", encoding="utf-8") as handle:
            # Four days: report rows of the first days are packed while later days are read.
            for line in generate_lines(mta, 25000, 3, datetime(2026, 11, 20), days=4, hosts=("mx1", "mx2")):
                handle.write(line + "\n")
        paths.append(str(path))
    return paths


def _outputs(paths: list[str], jobs: int, scheduler=None) -> dict:
    sources = expand_inputs(paths)
    options = ReadOptions(now=FROZEN_NOW)  # not year=: with a forced year, files are not cut into ranges
    catalogue = load_catalogue()
    results = {}
    summary, stats = parallel.collect(sources, parallel.Job("summary", options), jobs, scheduler)
    results["daily"] = report.daily_report(summary, catalogue).to_csv(index=False)
    results["stats"] = (stats.lines_read, stats.events, dict(stats.by_outcome))
    settings = SpikeSettings()
    tally, _ = parallel.collect(sources, parallel.Job("failures", options, spike_settings=settings), jobs, scheduler)
    results["spikes"] = format_spikes(find_spikes(tally), "json")
    out = io.StringIO()
    parallel.collect(sources, parallel.Job("events-jsonl", options), jobs, scheduler, out=out)
    results["events"] = out.getvalue()
    return results


@pytest.fixture
def small_ranges(monkeypatch):
    monkeypatch.setattr(parallel, "MIN_RANGE_BYTES", 256 << 10)  # cut the test logs into many ranges


def test_byte_ranges_start_at_line_starts_with_the_right_line_numbers(generated, small_ranges):
    units = parallel.plan_units(expand_inputs(generated[:1]), 2, ReadOptions())
    assert len(units) >= 4
    lines = Path(generated[0]).read_bytes().split(b"\n")
    for unit in units:
        with open(unit.path, "rb") as handle:
            handle.seek(unit.start)
            assert handle.readline().rstrip(b"\n") == lines[unit.first_line_no - 1]
    assert units[-1].end == Path(generated[0]).stat().st_size


def test_only_plain_files_of_lines_are_cut(generated, small_ranges, tmp_path):
    plain = Path(generated[0]).read_bytes()
    packed = tmp_path / "mail.log.gz"
    packed.write_bytes(gzip.compress(plain, compresslevel=0))  # stored: as large as the plain file
    journal = tmp_path / "journal.json"
    record = b'{"MESSAGE":"x","SYSLOG_IDENTIFIER":"postfix/smtpd","__REALTIME_TIMESTAMP":"1"}\n'
    journal.write_bytes(record * (len(plain) // len(record)))
    assert min(packed.stat().st_size, journal.stat().st_size) > parallel.MIN_RANGE_BYTES
    units = parallel.plan_units(expand_inputs([generated[0], str(packed), str(journal)]), 2, ReadOptions())
    uncut = [(unit.path, unit.start, unit.end) for unit in units if unit.path != generated[0]]
    # A plain file is read up to its size when planned; a compressed one to its end.
    assert uncut == [(str(packed), 0, None), (str(journal), 0, journal.stat().st_size)]
    assert len([unit for unit in units if unit.path == generated[0]]) >= 4


def test_jobs_equal_one_process(generated, small_ranges):
    paths = [str(ROOT / "sample_logs"), *generated]
    assert len(parallel.plan_units(expand_inputs(paths), 2, ReadOptions(now=FROZEN_NOW))) > len(paths) + 6
    assert _outputs(paths, 2) == _outputs(paths, 1)


def test_dask_engine_equals_one_process(generated, small_ranges):
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        assert _outputs(generated, 1, scheduler=cluster) == _outputs(generated, 1)


def test_cli_dask_engine_and_jobs(tmp_path):
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    from typer.testing import CliRunner

    from analyzer.cli import app
    runner = CliRunner()
    base = ["report", str(ROOT / "sample_logs"), "--year", "2026", "--tz", "UTC"]
    single = runner.invoke(app, [*base, "--jobs", "1", "-o", str(tmp_path / "one.csv")])
    assert single.exit_code == 0, single.output
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        result = runner.invoke(app, [*base, "--engine", "dask", "--scheduler", cluster.scheduler_address,
                                     "-o", str(tmp_path / "dask.csv")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()
    missing = runner.invoke(app, [*base, "--engine", "dask", "-o", str(tmp_path / "x.csv")])
    assert missing.exit_code == 2 and "--scheduler" in missing.stderr
    unreachable = runner.invoke(app, [*base, "--engine", "dask", "--scheduler", "tcp://127.0.0.1:9",
                                      "-o", str(tmp_path / "x.csv")])
    assert unreachable.exit_code == 2 and "cannot reach the Dask scheduler" in unreachable.stderr


@pytest.fixture
def progress_inputs(generated, small_ranges, monkeypatch, tmp_path):
    monkeypatch.setattr(blockscan, "BLOCK_BYTES", 64 << 10)
    packed = tmp_path / "postfix.log.gz"  # its reader counts more bytes than the file holds
    packed.write_bytes(gzip.compress(Path(generated[0]).read_bytes()))
    unended = tmp_path / "unended.log"  # the reader gives its last line an end the file does not have
    unended.write_bytes(Path(generated[1]).read_bytes().rstrip(b"\n"))
    return expand_inputs([*generated, str(packed), str(unended)])


def _progress_heard(sources, jobs: int, scheduler=None) -> list[tuple[int, int]]:
    """What progress hears on one run; checked to rise, to stay within the total and to end on it."""
    heard: list[tuple[int, int]] = []
    job = parallel.Job("summary", ReadOptions(now=FROZEN_NOW))
    _summary, stats = parallel.collect(sources, job, jobs, scheduler,
                                       progress=lambda size, lines: heard.append((size, lines)))
    total = sum(source.size() for source in sources)
    assert heard == sorted(heard) and heard[-1] == (total, stats.lines_read), (jobs, scheduler)
    assert all(size <= total for size, _lines in heard)
    return heard


def test_progress_is_heard_block_by_block_in_one_process_and_per_part_with_processes(progress_inputs):
    assert len(_progress_heard(progress_inputs, 1)) > 4 * len(progress_inputs)  # not only when a file ends
    parts = len(parallel.plan_units(progress_inputs, 2, ReadOptions(now=FROZEN_NOW)))
    assert len(_progress_heard(progress_inputs, 2)) == parts > len(progress_inputs)


def test_progress_is_heard_per_part_on_dask(progress_inputs):
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        parts = len(parallel.plan_units(progress_inputs, 64, ReadOptions(now=FROZEN_NOW)))
        assert len(_progress_heard(progress_inputs, 1, cluster)) == parts > len(progress_inputs)


class _RecordingPool:
    """Threads standing in for processes; records each unit given out."""

    given: list = []

    def __init__(self, max_workers: int, mp_context=None):
        self.pool = ThreadPoolExecutor(max_workers)

    def submit(self, function, unit, job):
        _RecordingPool.given.append(unit)
        return self.pool.submit(function, unit, job)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.pool.shutdown()


def test_events_with_processes_keep_few_parts_waiting_and_stream_what_cannot_be_cut(generated, small_ranges,
                                                                                      monkeypatch, tmp_path):
    monkeypatch.setattr(parallel, "EVENTS_RANGE_BYTES", 256 << 10)
    monkeypatch.setattr(parallel, "ProcessPoolExecutor", _RecordingPool)
    _RecordingPool.given = []
    packed = tmp_path / "exim.log.gz"  # cannot be cut: read in this process, in its turn
    packed.write_bytes(gzip.compress(Path(generated[1]).read_bytes()))
    sources = expand_inputs([generated[0], str(packed), generated[2]])
    job = parallel.Job("events-jsonl", ReadOptions(now=FROZEN_NOW))
    out = io.StringIO()
    given_when_yielded = []
    for result in parallel.run(sources, job, 2, out=out):  # as collect() does: text from a process is written
        given_when_yielded.append(len(_RecordingPool.given))  # in its turn; a unit read here wrote its own
        out.write(result.payload)
    units = parallel.plan_units(sources, 2, job.options, parallel.EVENTS_RANGE_BYTES)
    assert len(units) > 12 and len(given_when_yielded) == len(units)
    assert all(given <= position + 1 + 2 * 2 for position, given in enumerate(given_when_yielded))
    assert all(unit.path != str(packed) for unit in _RecordingPool.given)
    assert len(_RecordingPool.given) == len(units) - 1
    single = io.StringIO()
    parallel.collect(sources, job, 1, out=single)
    assert out.getvalue() == single.getvalue()


def test_dask_is_given_few_parts_at_a_time(generated, small_ranges, monkeypatch):
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    monkeypatch.setattr(parallel, "EVENTS_RANGE_BYTES", 256 << 10)
    submitted: list = []
    submit = distributed.Client.submit

    def recording_submit(self, *args, **kwargs):
        submitted.append(args[1])
        return submit(self, *args, **kwargs)

    monkeypatch.setattr(distributed.Client, "submit", recording_submit)
    sources = expand_inputs(generated)
    job = parallel.Job("events-jsonl", ReadOptions(now=FROZEN_NOW))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        out = io.StringIO()
        given_when_yielded = []
        for result in parallel.run(sources, job, 1, scheduler=cluster):
            given_when_yielded.append(len(submitted))
            out.write(result.payload)
    assert len(given_when_yielded) > 12 and len(submitted) == len(given_when_yielded)
    assert all(given <= position + 2 for position, given in enumerate(given_when_yielded))  # 2 a thread
    single = io.StringIO()
    parallel.collect(sources, job, 1, out=single)
    assert out.getvalue() == single.getvalue()


class _CountingPool(_RecordingPool):
    """Records how many processes each pool would start."""

    started: list = []

    def __init__(self, max_workers: int, mp_context=None):
        _CountingPool.started.append(max_workers)
        super().__init__(max_workers)


def test_no_more_processes_than_work_units_or_cores(generated, small_ranges, monkeypatch):
    assert [parallel.pool_size(1000, 2), parallel.pool_size(2, 50)] == [min(2, parallel.default_jobs())] * 2
    monkeypatch.setattr(parallel, "default_jobs", lambda: 3)
    assert parallel.pool_size(1000, 50) == 3
    monkeypatch.setattr(parallel, "ProcessPoolExecutor", _CountingPool)
    monkeypatch.setattr(parallel, "MIN_RANGE_BYTES", 16 << 20)  # two files, two units
    _CountingPool.started = []
    job = parallel.Job("summary", ReadOptions(now=FROZEN_NOW))
    list(parallel.run(expand_inputs(generated[:2]), job, 1000))
    assert _CountingPool.started == [2]


def _grow_while_read(monkeypatch, path: Path, appended: bytes, rotate: bool = False) -> None:
    """Make the reader append to `path` (or rotate it and start a new file there) once it has parsed a
    few hundred lines of it, in this process and in worker processes (forked with the patch)."""
    from analyzer import reader
    handle_line = reader.LineHandler.handle
    done: list = []

    def handle(self, line, line_no):
        if line_no >= 300 and not done and self.name == str(path):
            done.append(line_no)
            if rotate:
                path.rename(path.with_name(path.name + ".1"))
            with path.open("ab") as log:
                log.write(appended)
        return handle_line(self, line, line_no)

    monkeypatch.setattr(reader.LineHandler, "handle", handle)


def _counts_of_growing_file(tmp_path, monkeypatch, content: bytes, jobs: int, engine: str = "auto",
                            rotate: bool = False):
    path = tmp_path / f"mail-{jobs}-{engine}.log"
    path.write_bytes(content)
    _grow_while_read(monkeypatch, path, content[:content.index(b"\n", 200_000) + 1], rotate)
    job = parallel.Job("summary", ReadOptions(now=FROZEN_NOW, engine=engine))
    _summary, stats = parallel.collect(expand_inputs([str(path)]), job, jobs)
    return stats.lines_read, stats.events, dict(stats.by_outcome)


def test_lines_appended_during_the_run_are_left_for_the_next_whatever_the_jobs(generated, small_ranges,
                                                                               monkeypatch, tmp_path):
    monkeypatch.setattr(blockscan, "BLOCK_BYTES", 64 << 10)  # the first blocks are read before the append
    content = Path(generated[0]).read_bytes()
    one_process = _counts_of_growing_file(tmp_path, monkeypatch, content, 1)
    assert one_process[0] == content.count(b"\n")
    assert _counts_of_growing_file(tmp_path, monkeypatch, content, 2) == one_process


def test_a_file_rotated_during_the_run_is_read_through_its_handle_up_to_its_planned_size(generated, monkeypatch,
                                                                                         tmp_path):
    monkeypatch.setattr(blockscan, "BLOCK_BYTES", 64 << 10)
    content = Path(generated[0]).read_bytes()
    lines_read, _events, _outcomes = _counts_of_growing_file(tmp_path, monkeypatch, content, 1, rotate=True)
    assert lines_read == content.count(b"\n")


def test_the_line_engine_leaves_appended_lines_for_the_next_run(generated, monkeypatch, tmp_path):
    content = Path(generated[0]).read_bytes()
    lines_read, _events, _outcomes = _counts_of_growing_file(tmp_path, monkeypatch, content, 1, engine="line")
    assert lines_read == content.count(b"\n")
