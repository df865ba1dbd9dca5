"""maillog watch: follow a live log like `tail -F` and raise auth-failure alerts as they happen.

The detection is `maillog spikes`' own code (FailureTally and find_spikes): a window is judged when it
has closed, by the log's own clock (a later line) or by the wall clock. Alerts are keyed (host and spike
start; host and address), so each is raised once. The state file keeps the file's identity and offset,
the recent windows of the baseline and the alerts already raised, so a restart neither repeats alerts nor
re-reads old lines nor loses the baseline.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from .classify import Classifier
from .errors import InputError, MaillogError, UsageError
from .events import ParseStats
from .output import atomic_text_file, json_text, sanitize
from .reader import LineHandler, ReadOptions
from .sources import RAW_LINE_BYTES, RAW_LINE_CHARS, STDIN, LineCutter, Source, is_journal_record, journal_line
from .spikes import Failure, FailureTally, SpikeSettings, WindowStats, failures_in, find_spikes, window_start
from .watchstate import HEAD_BYTES, STATE_VERSION, state_problem

READ_BYTES = 4 << 20  # read at a time, so that a file read from its start never sits whole in memory
MIN_POLL_SECONDS, MAX_POLL_SECONDS = 0.05, 3600.0  # below: a busy loop; above: windows close late by the clock


def head_of(handle, size: int = HEAD_BYTES) -> tuple[int, str]:
    """(bytes read, SHA-256) of the first `size` bytes of an open file; its position is left as it was."""
    data = os.pread(handle.fileno(), size, 0)
    return len(data), hashlib.sha256(data).hexdigest()


def _split_lines(whole: bytes) -> list[str]:
    """LineCutter output (whole lines, each ending in LF) as text lines without their ends."""
    lines = whole[:-1].decode("utf-8", "replace").split("\n")
    return [line[:-1] if line.endswith("\r") else line for line in lines]


@dataclass
class Follower:
    """New complete lines of one path, across rename rotation, copy-truncate and a file briefly missing."""

    path: str
    offset: int = 0
    identity: tuple[int, int] | None = None
    head: tuple[int, str] | None = None  # head_of() the file when the state was saved; None in older states
    handle: object = None
    cutter: LineCutter = field(default_factory=lambda: LineCutter(RAW_LINE_BYTES))

    def open(self, at_end: bool) -> None:
        try:
            handle = open(self.path, "rb")
        except OSError:
            return  # missing for now: tried again on the next poll
        info = os.fstat(handle.fileno())
        identity = (info.st_dev, info.st_ino)
        if identity == self.identity and info.st_size >= self.offset and self._same_head(handle):
            handle.seek(self.offset)      # the same file as before a restart: go on where we were
        elif at_end and self.identity is None:
            handle.seek(0, os.SEEK_END)   # a new watch starts at the end, like tail -F
        else:
            self.offset = 0               # a new file (rotated) or a shorter one: from its start
        self.offset = handle.tell()
        self.handle, self.identity, self.cutter = handle, identity, LineCutter(RAW_LINE_BYTES)

    def _same_head(self, handle) -> bool:
        if self.head is None:
            return True  # a state saved before heads were kept: (device, inode) and size are all there is
        size, digest = self.head
        return head_of(handle, size) == (size, digest)  # fewer bytes now than hashed then: another file

    def saved_head(self) -> tuple[int, str] | None:
        """What the state file keeps to know this file again: its head now, or the one loaded if it is closed."""
        return head_of(self.handle) if self.handle is not None else self.head

    def read(self) -> list[str]:
        """The complete lines written since the last call, a bounded amount at a time: a caller that gets
        lines calls again at once, and gets the rest."""
        if self.handle is None:
            self.open(at_end=False)
            if self.handle is None:
                return []
        lines, at_end = self._drain()
        while not lines and not at_end:  # inside a line too long to keep: on to its end
            lines, at_end = self._drain()
        if not at_end:
            return lines
        try:
            info = os.stat(self.path)
            current = (info.st_dev, info.st_ino)
        except OSError:
            return lines  # rotated away and not yet recreated: keep the old file open
        if current != self.identity:
            # Rotated: the rest of the old file (written since the read above), then the new file from its
            # start (its first READ_BYTES now, the rest on the next calls).
            at_end = False
            while not at_end:
                more, at_end = self._drain()
                lines += more
            self.handle.close()
            self.handle, self.identity = None, None
            self.open(at_end=False)
            if self.handle is not None:
                lines += self._drain()[0]
        elif info.st_size < self.offset:  # copy-truncate: the file was emptied under us
            self.handle.seek(0)
            self.offset, self.cutter = 0, LineCutter(RAW_LINE_BYTES)
            lines += self._drain()[0]
        return lines

    def _drain(self) -> tuple[list[str], bool]:
        """(complete lines, whether the end of the file was reached) from at most READ_BYTES."""
        data = self.handle.read(READ_BYTES)
        at_end = len(data) < READ_BYTES
        whole = self.cutter.feed(data) if data else b""
        if not self.cutter.skipping:
            # Saved across restarts: the start of the line not yet ended. Inside a line too long to keep,
            # it stays at that line's start, so that a restart reads the line again, never its tail as one.
            self.offset = self.handle.tell() - len(self.cutter.carry)
        return (_split_lines(whole) if whole else []), at_end


@dataclass
class Alerts:
    """Spike and offender alerts, each raised once (the keys survive restarts in the state file)."""

    settings: SpikeSettings
    tally: FailureTally = None
    spikes_raised: set[str] = field(default_factory=set)
    offenders_raised: dict[str, str] = field(default_factory=dict)  # host|ip -> ISO time of the alert
    newest: datetime | None = None                                   # the latest failure time seen
    open_windows: dict[str, datetime] = field(default_factory=dict)  # host -> start of its filling window

    def __post_init__(self) -> None:
        if self.tally is None:
            self.tally = FailureTally(self.settings)

    def add(self, failure: Failure) -> list[dict]:
        """Fold in one failure: alerts for the windows its time closes, and for an address it tips over."""
        window = self.settings.window
        start = window_start(failure.timestamp, window)
        alerts = []
        if self.open_windows.get(failure.host) != start:  # a new window: the ones before it are closed
            alerts = self.closed(start)
            self.open_windows[failure.host] = start
        if self.newest is None or failure.timestamp > self.newest:
            self.newest = failure.timestamp
        self.tally.add(failure)
        if failure.client_ip:
            source = self.tally.sources[failure.host].payloads.get(failure.client_ip)
            key = f"{failure.host}|{failure.client_ip}"
            last = self.offenders_raised.get(key)
            fresh = last is None or failure.timestamp - datetime.fromisoformat(last) > self.settings.baseline
            if source is not None and source.most_in_window >= self.settings.per_ip and fresh:
                self.offenders_raised[key] = failure.timestamp.isoformat()
                alerts.append({"alert": "offender", "host": failure.host, "client_ip": failure.client_ip,
                               "failures_in_window": source.most_in_window, "time": failure.timestamp.isoformat()})
        return alerts

    def closed(self, now: datetime) -> list[dict]:
        """Alerts for spikes in the windows that ended by `now`."""
        alerts = []
        found = find_spikes(self.tally, closed_before=now)
        for spike in found.spikes:
            key = f"{spike.host}|{spike.start.isoformat()}"
            if key not in self.spikes_raised:
                self.spikes_raised.add(key)
                alerts.append({"alert": "spike", **spike.record()})
        try:
            self._forget_before(now - self.settings.baseline - 2 * self.settings.window)
        except OverflowError:  # a line can say 0001-01-01: there is nothing older to forget
            pass
        return alerts

    def _forget_before(self, moment: datetime) -> None:
        for windows in self.tally.windows.values():
            for start in [s for s in windows if s < moment]:
                del windows[start]

    def state(self) -> dict:
        return {"windows": {host: {s.isoformat(): w.count for s, w in windows.items()}
                            for host, windows in self.tally.windows.items()},
                "spikes_raised": sorted(self.spikes_raised), "offenders_raised": self.offenders_raised}

    def restore(self, saved: dict) -> None:
        for host, windows in saved.get("windows", {}).items():
            for start, count in windows.items():
                self.tally.windows[host][datetime.fromisoformat(start)] = WindowStats(count=count)
        self.spikes_raised = set(saved.get("spikes_raised", []))
        self.offenders_raised = dict(saved.get("offenders_raised", {}))


ALERT_FORMATS = ("text", "json")


def format_alert(alert: dict, format: str) -> str:
    if format == "json":
        return json_text(alert)
    if alert["alert"] == "spike":
        top = ", ".join(f"{ip} ({n})" for ip, n in alert["top_ips"][:3]) or "-"
        return (f"SPIKE {alert['shape']} on {sanitize(alert['host'])}: {alert['start']} .. {alert['end']}, "
                f"{alert['failures']} failures (baseline {alert['baseline']}), top {top}")
    return (f"OFFENDER {alert['client_ip']} on {sanitize(alert['host'])}: {alert['failures_in_window']} failures "
            f"within one window, at {alert['time']}")


class Watcher:
    """The loop: read new lines, parse, alert, save state; until SIGINT, SIGTERM or stop()."""

    def __init__(self, path: str, options: ReadOptions, classifier: Classifier, settings: SpikeSettings,
                 emit: Callable[[dict], None], state_path: Path | None, poll: float,
                 notice: Callable[[str], None] | None = None):
        self.path, self.options, self.classifier, self.emit = path, options, classifier, emit
        self.state_path, self.poll = state_path, check_poll(poll)
        self.notice = notice or _to_stderr
        self.alerts = Alerts(settings)
        self.follower = Follower(path) if path != STDIN else None
        self.stopping = False
        self._wake: tuple[int, int] | None = None  # a pipe that stop() writes to, to end a wait at once
        self._stdin_cutter, self._stdin_ended = LineCutter(RAW_LINE_BYTES), False
        saved = self._load()
        if saved:
            self.alerts.restore(saved)
            if self.follower is not None and saved.get("file", {}).get("path") == path:
                self.follower.offset = saved["file"]["offset"]
                self.follower.identity = tuple(saved["file"]["identity"])
                if "head" in saved["file"]:
                    self.follower.head = tuple(saved["file"]["head"])
        try:
            reference = options.now or Source(path).modified()
        except OSError:  # not there yet: it is written from now on, the reference for year-less lines
            reference = datetime.now(timezone.utc)
        options = replace(options, now=reference)
        self.handler = LineHandler(Source(path), options, ParseStats())

    def _load(self) -> dict | None:
        if self.state_path is None or not self.state_path.exists():
            return None
        try:
            saved = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise MaillogError(f"{self.state_path}: cannot read the state file ({exc}); move it away to "
                               f"start afresh") from None
        # A state file of the wrong shape is refused, never replaced by a fresh start: the watcher writes it
        # whole or not at all, so a wrong shape means a hand edit or another program's file, which the first
        # save would overwrite; and a fresh start repeats alerts already sent and loses the position in the
        # log, which a warning on stderr (unread under cron or systemd) would not make up for.
        problem = state_problem(saved, self.alerts.settings)
        if problem:
            raise MaillogError(f"{self.state_path}: not a usable maillog watch state file: {problem}; move it "
                               f"away to start afresh")
        return saved

    def save(self) -> None:
        if self.state_path is None:
            return
        state = {"version": STATE_VERSION, **self.alerts.state()}
        if self.follower is not None and self.follower.identity is not None:
            state["file"] = {"path": self.path, "offset": self.follower.offset,
                             "identity": list(self.follower.identity)}
            head = self.follower.saved_head()
            if head is not None:
                state["file"]["head"] = list(head)
        with atomic_text_file(self.state_path) as handle:
            json.dump(state, handle)

    def stop(self, *_signal) -> None:
        """End run() soon, at its next line or at once when it waits (safe from a signal handler or a thread)."""
        self.stopping = True
        if self._wake is not None:
            try:
                os.write(self._wake[1], b"\0")
            except OSError:
                pass  # the pipe is full or closed: a wake-up is pending, or run() has ended

    def feed(self, line: str) -> None:
        # A line longer than any record worth parsing (the LineCutter's cut start of a longer one) is
        # counted as too long by the handler, unparsed: decoding it as JSON would only cost time.
        if len(line) <= RAW_LINE_CHARS and is_journal_record(line):
            line = journal_line(line) or line
        self.handler.lines += 1
        for failure in failures_in(self.handler.handle(line, self.handler.lines), self.classifier):
            for alert in self.alerts.add(failure):
                self.emit(alert)

    def run(self) -> None:
        stdin = self._stdin_descriptor() if self.follower is None else None
        self._wake = os.pipe()
        os.set_blocking(self._wake[1], False)
        handlers = {}
        if threading.current_thread() is threading.main_thread():  # signals reach the main thread only
            handlers = {signum: signal.signal(signum, self.stop) for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            if self.follower is not None:
                self._open_follower()
            self.save()  # at once: the position a new watch starts from is remembered, and callers see we are up
            last_save = time.monotonic()
            while not self.stopping:
                lines = self._read_stdin(stdin) if self.follower is None else self.follower.read()
                if lines is None:  # stdin ended
                    break
                for line in lines:
                    self.feed(line)
                self._close_by_clock()
                if time.monotonic() - last_save > 5:
                    self.save()
                    last_save = time.monotonic()
                if not lines and self.follower is not None:
                    self._wait()  # idle: no busy loop
        finally:
            try:
                self.save()
            finally:
                for signum, handler in handlers.items():
                    signal.signal(signum, handler)
                wake, self._wake = self._wake, None  # first: a late stop() must not write to a reused descriptor
                for descriptor in wake:
                    os.close(descriptor)

    def _open_follower(self) -> None:
        self.follower.open(at_end=True)
        if self.follower.handle is not None:
            return
        if os.path.exists(self.path):
            try:
                open(self.path, "rb").close()
            except OSError as exc:
                raise InputError(f"{self.path}: cannot open: {exc.strerror or exc}") from None
        # Like tail -F: a log that is not there yet (a new server, a rotation in progress) is waited for,
        # then read from its start; said once, since a watcher that prints nothing looks like one that works.
        self.notice(f"waiting for {self.path} to appear")

    def _wait(self, *descriptors: int) -> bool:
        """Wait up to `poll` seconds for input on `descriptors`, or less if stop() is called; True on input."""
        ready, _, _ = select.select([self._wake[0], *descriptors], [], [], self.poll)
        return any(descriptor in ready for descriptor in descriptors)

    def _close_by_clock(self) -> None:
        """On a live log, a window also closes when the clock passes its end (plus a window of grace for
        late lines); a log replayed from the past closes its windows by its own times only."""
        now = datetime.now(timezone.utc)
        settings = self.alerts.settings
        newest = self.alerts.newest
        if newest is not None and now - newest < settings.baseline:
            for alert in self.alerts.closed(now - settings.window):
                self.emit(alert)

    @staticmethod
    def _stdin_descriptor() -> int:
        try:
            return sys.stdin.fileno()
        except (AttributeError, OSError, ValueError):  # started with stdin closed: sys.stdin is None
            raise InputError("<stdin>: not open; pipe journalctl -o json or a log into maillog watch -") from None

    def _read_stdin(self, stdin: int) -> list[str] | None:
        """The lines that stdin has for us now (None once it has ended), read from its descriptor through a
        LineCutter: a buffered reader would hold lines that select() does not see until more come, and its
        readline() would hold a line of any length whole."""
        if self._stdin_ended:
            return None
        if not self._wait(stdin):
            return []
        try:
            data = os.read(stdin, READ_BYTES)
        except OSError as exc:
            raise InputError(f"<stdin>: cannot read: {exc.strerror or exc}") from None
        if data:
            whole = self._stdin_cutter.feed(data)
        else:
            self._stdin_ended, whole = True, self._stdin_cutter.finish()
        return _split_lines(whole) if whole else []


def _to_stderr(message: str) -> None:
    sys.stderr.write(f"maillog: {sanitize(message)}\n")
    sys.stderr.flush()


def check_poll(poll: float) -> float:
    """`poll` if it is a usable --poll; sleeping for inf, nan or a year would overflow the clock or never wake."""
    if not (math.isfinite(poll) and MIN_POLL_SECONDS <= poll <= MAX_POLL_SECONDS):
        raise UsageError(f"--poll {poll:g}: give the seconds between looks at an idle log, from "
                         f"{MIN_POLL_SECONDS:g} to {MAX_POLL_SECONDS:g}")
    return poll


def check_watchable(path: str) -> None:
    if path != STDIN and not os.path.exists(path) and not os.path.isdir(os.path.dirname(path) or "."):
        raise InputError(f"{path}: neither the file nor its directory exists")
    if path != STDIN and os.path.isdir(path):
        raise InputError(f"{path}: is a directory; watch one log file")

