"""The state file of `maillog watch`: what it holds, and the check that a file read back is of that shape.

The watcher writes the file whole; one of another shape is a hand edit or another program's file, and is
refused with a one-line error (never trusted, never overwritten) rather than crash the watcher.
"""
from __future__ import annotations

import json
import re
from datetime import datetime

from .spikes import SpikeSettings

STATE_VERSION = 1
# Hashed at the start of the file, with the file's (device, inode), to know it again after a restart: a log
# deleted and re-created while the watcher was stopped may get the old inode back (ext4 and tmpfs reuse
# freed inodes at once), and only its first bytes tell it from the old one.
HEAD_BYTES = 4096
# Bounds of the numbers in a state file: a position a file can be sought to, what st_dev and st_ino hold,
# and counts that stay exact in the floats the baseline is computed in.
MAX_OFFSET, MAX_DEVICE_OR_INODE, MAX_COUNT = 2**63 - 1, 2**64 - 1, 2**53
SHA256_HEX_RE = re.compile(r"[0-9a-f]{64}")


def _is_whole(value: object, largest: int) -> bool:
    return type(value) is int and 0 <= value <= largest  # bool is an int too, and no count


def _shown(value: object) -> str:
    text = json.dumps(value)  # escapes controls: the file may hold anything
    return text if len(text) <= 40 else text[:37] + "..."


def _aware_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.utcoffset() is not None else None


def state_problem(saved: object, settings: SpikeSettings) -> str | None:
    """What keeps `saved` (a state file's JSON) from being the shape Watcher.save writes, or None."""
    if not isinstance(saved, dict):
        return f"a JSON {type(saved).__name__ if saved is not None else 'null'} where an object should be"
    if saved.get("version") != STATE_VERSION:
        return f"version {_shown(saved.get('version'))}, not {STATE_VERSION}"
    file = saved.get("file", {})
    if not isinstance(file, dict):
        return f"file is {_shown(file)}, not an object"
    if file:
        if not isinstance(file.get("path"), str):
            return f"file.path is {_shown(file.get('path'))}, not a path"
        if not _is_whole(file.get("offset"), MAX_OFFSET):
            return f"file.offset is {_shown(file.get('offset'))}, not a whole number from 0 to {MAX_OFFSET}"
        identity = file.get("identity")
        if not (isinstance(identity, list) and len(identity) == 2
                and all(_is_whole(number, MAX_DEVICE_OR_INODE) for number in identity)):
            return f"file.identity is {_shown(identity)}, not [device, inode]"
        head = file.get("head")
        if "head" in file and not (isinstance(head, list) and len(head) == 2 and _is_whole(head[0], HEAD_BYTES)
                                   and isinstance(head[1], str) and SHA256_HEX_RE.fullmatch(head[1])):
            return f"file.head is {_shown(head)}, not [bytes, SHA-256 in hex]"  # absent in older states: fine
    windows = saved.get("windows", {})
    if not isinstance(windows, dict):
        return f"windows is {_shown(windows)}, not an object"
    for host, counts in windows.items():
        if not isinstance(counts, dict):
            return f"windows of host {_shown(host)} are {_shown(counts)}, not an object"
        for start, count in counts.items():
            moment = _aware_time(start)
            if moment is None:
                return f"a window of host {_shown(host)} starts at {_shown(start)}, not an ISO time with an offset"
            try:
                moment + 2 * settings.window + settings.baseline  # the latest time the tally computes from it
            except OverflowError:
                return f"a window of host {_shown(host)} starts at {_shown(start)}, too late to follow"
            if not _is_whole(count, MAX_COUNT):
                return f"a window of host {_shown(host)} holds {_shown(count)} failures, not a count"
    spikes = saved.get("spikes_raised", [])
    if not (isinstance(spikes, list) and all(isinstance(key, str) for key in spikes)):
        return f"spikes_raised is {_shown(spikes)}, not a list of strings"
    offenders = saved.get("offenders_raised", {})
    if not isinstance(offenders, dict):
        return f"offenders_raised is {_shown(offenders)}, not an object"
    for key, moment in offenders.items():
        if _aware_time(moment) is None:
            return f"offender {_shown(key)} was raised at {_shown(moment)}, not an ISO time with an offset"
    return None
