"""bench.floor measures the lines maillog parses, with the engines it names."""
from __future__ import annotations

from datetime import datetime

import pytest

from analyzer import blockscan
from analyzer.events import ParseStats
from analyzer.reader import ReadOptions, read_events
from analyzer.sources import expand_inputs
from bench import floor
from bench.generate import generate_lines, write_lines

from .conftest import FROZEN_NOW


@pytest.mark.skipif(not blockscan.available(), reason="pyarrow is not installed")
@pytest.mark.parametrize("mta", ["postfix", "exim", "sendmail"])
def test_the_floor_matches_exactly_the_event_lines(mta, tmp_path):
    log = str(tmp_path / f"{mta}.log")
    write_lines(generate_lines(mta, 3000, seed=3, start=datetime(2026, 11, 20)), log)
    stats = ParseStats()
    for _event in read_events(expand_inputs([log]), ReadOptions(now=FROZEN_NOW), stats):
        pass
    messages = floor.event_messages(log, mta)
    assert sum(len(texts) for texts in messages.values()) == stats.by_outcome["event"] > 500
    spent, refused = floor.match_seconds(messages)
    assert "regex module" not in refused and set(spent) >= {"regex module", "stdlib re"}
    # A duplicated group name is numbered for `re`, so it takes every pattern maillog meets here.
    assert refused.get("stdlib re", []) == [p.id for p in messages if floor.stdlib_compiled(p.regex) is None] == []
