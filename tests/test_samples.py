"""Every annotated sample line, parsed and classified end to end, against its one-line expectation."""
from __future__ import annotations

import pytest

from analyzer.classify import Classifier
from analyzer.events import LineOutcome
from analyzer.reader import inspect_line

from .conftest import FROZEN_NOW, SAMPLES_DIR, read_annotated

SAMPLE_FILES = sorted(SAMPLES_DIR.glob("*.log"))
CASES = [pytest.param(path.name, expectation, line, id=f"{path.name}:{number}")
         for path in SAMPLE_FILES for number, expectation, line in read_annotated(path)]
EVENT_KEYS = {"kind", "reply_code", "enhanced_code", "code_inferred", "client_ip", "client_host", "relay_ip",
              "relay_host", "sender", "recipient", "queue_id", "sasl_method", "sasl_username", "command",
              "direction"}


def test_samples_exist():
    assert {p.name for p in SAMPLE_FILES} >= {"postfix.log", "exim.log", "sendmail.log"}
    assert len(CASES) > 150


@pytest.mark.parametrize(("sample_file", "expected", "line"), CASES)
def test_sample_line(sample_file, expected, line, catalogue):
    inspection = inspect_line(line, now=FROZEN_NOW)
    if expected.get("event") is False:
        assert not inspection.events, f"expected no event ({expected.get('why')}), got {inspection.events}"
        # A line without an event is still known: unrecognised only where the sample says so.
        assert inspection.outcome.value == expected.get("outcome", inspection.outcome.value)
        assert inspection.outcome in (LineOutcome.NO_EVENT, LineOutcome.DAEMON_PROBLEM, LineOutcome.FOREIGN) \
            or expected.get("outcome") == "unrecognised"
        if "pattern" in expected:
            assert inspection.pattern_id == expected["pattern"]
        return
    assert inspection.events, f"no event: outcome {inspection.outcome.value}"
    if "pattern" in expected:
        assert inspection.pattern_id == expected["pattern"]
    assert len(inspection.events) == expected.get("events", 1)
    event = inspection.events[0]
    for key in EVENT_KEYS & expected.keys():
        actual = getattr(event, key)
        actual = actual.value if hasattr(actual, "value") else actual
        if key == "code_inferred":  # a bool field: null in an annotation means false
            actual, wanted = bool(actual), bool(expected[key])
        else:
            wanted = expected[key]
        assert actual == wanted, f"{key}: {actual!r} != {wanted!r}"
    if "entry" in expected:
        found = Classifier(catalogue)(event)
        if expected["entry"] is None:
            assert found.matched_by != "text", f"a text rule matched: {found.entry_id}"
        else:
            assert found.entry_id == expected["entry"]
            assert found.matched_by == "text"
