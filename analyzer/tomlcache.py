"""Parsed TOML files, kept as JSON in the user's cache.

Python's TOML parser is pure Python, and parsing the pattern files was most of a command's start-up.
Each file's contents are stored under a hash of its bytes, so an edited file is simply parsed again;
a cache entry is used only when it names that hash and holds a table, so a damaged or foreign file in
the cache is parsed over and replaced. MAILLOG_CACHE_DIR moves the cache; an empty value turns it off.
Nothing here is required: a cache that cannot be read or written is skipped.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
import tomllib
from pathlib import Path

FORMAT = b"maillog pattern cache 2\n"  # part of every hash: a new layout never reads an old one
STALE_SECONDS = 90 * 86400             # entries unused this long (edited rule files) are removed
ABANDONED_SECONDS = 86400              # temporary files of a writer that was killed


def load(content: bytes) -> dict:
    """The TOML document in `content`; raises UnicodeDecodeError or tomllib.TOMLDecodeError."""
    digest = hashlib.sha256(FORMAT + content).hexdigest()
    directory = cache_dir()
    target = directory / f"patterns-{digest[:32]}.json" if directory is not None else None
    if target is not None:
        cached = _read(target, digest)
        if cached is not None:
            return cached
    data = tomllib.loads(content.decode("utf-8"))
    if target is not None:
        _write(target, digest, data)
    return data


def cache_dir() -> Path | None:
    configured = os.environ.get("MAILLOG_CACHE_DIR")
    if configured is not None:
        return Path(configured) if configured else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(base):  # no home directory: no cache, rather than one in the working directory
        return None
    return Path(base) / "maillog"


def _read(target: Path, digest: str) -> dict | None:
    try:
        with target.open("rb") as handle:
            stored = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("sha256") != digest or not isinstance(stored.get("data"), dict):
        return None
    with contextlib.suppress(OSError):
        os.utime(target)  # in use: not stale
    return stored["data"]


def _write(target: Path, digest: str, data: dict) -> None:
    try:
        text = json.dumps({"sha256": digest, "data": data}, ensure_ascii=False)
    except (TypeError, ValueError):
        return  # a TOML date or time has no JSON form: such a file is simply not cached
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".patterns-")
    except OSError:
        return  # a read-only home: the next run parses the TOML again
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, target)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        return
    _remove_stale(target.parent)


def _remove_stale(directory: Path) -> None:
    now = time.time()
    for pattern, age in (("patterns-*.json", STALE_SECONDS), (".patterns-*", ABANDONED_SECONDS)):
        for path in directory.glob(pattern):
            with contextlib.suppress(OSError):
                if now - path.stat().st_mtime > age:
                    path.unlink()
