from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from analyzer.catalogue import load_catalogue

SAMPLES_DIR = Path(__file__).parent / "samples"
FROZEN_NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=timezone.utc)


def pytest_configure(config):
    # The pattern cache goes to a directory of this run, not the user's ~/.cache (subprocesses inherit it).
    config._maillog_cache = tempfile.TemporaryDirectory(prefix="maillog-cache-")
    os.environ["MAILLOG_CACHE_DIR"] = config._maillog_cache.name


def pytest_unconfigure(config):
    config._maillog_cache.cleanup()


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="Rewrite tests/golden/ from the current output (review the diff!).")


@pytest.fixture
def update_golden(request) -> bool:
    return request.config.getoption("--update-golden")


@pytest.fixture(scope="session")
def catalogue():
    return load_catalogue()


@pytest.fixture
def now() -> datetime:
    """A fixed 'now' for year inference, so tests do not depend on the day they run."""
    return FROZEN_NOW


def read_annotated(path: Path) -> list[tuple[int, dict, str]]:
    """(line number, expectation, line) for each '# expect: {...}' annotation followed by a line."""
    cases = []
    expectation = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if raw.startswith("# expect:"):
            expectation = json.loads(raw[len("# expect:"):])
        elif raw.startswith("#") or not raw.strip():
            continue
        elif expectation is not None:
            cases.append((number, expectation, raw))
            expectation = None
    return cases
