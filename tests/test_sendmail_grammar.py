"""Sendmail's delivery line read as deliver.c logdelivery() writes it: to=<list>, then key=value fields in any
order (ctladdr, delay, xdelay, mailer, pri, relay, dsn, ntries, stage, reply or status, stat last), with the
keys after the list never taken from the strangers' text (the addresses, the reply= and stat= texts)."""
from __future__ import annotations

import itertools
import random
import string

import pytest

from analyzer.parsers import PARSERS
from analyzer.parsers.engine import UNRECOGNISED

from .conftest import SAMPLES_DIR, read_annotated

# The keys the pattern reads with a grammar of its own, and the two that end the fields.
OWN_GRAMMAR = ("ctladdr", "dsn", "mailer", "relay")
ENDING = ("reply", "stat")


def _pattern(pattern_id: str):
    (pattern,) = [p for p in PARSERS["sendmail"].patterns if p.id == pattern_id]
    return pattern


def _events(message: str) -> list[dict]:
    parsed = PARSERS["sendmail"].parse("*", message)
    assert parsed is not None and parsed is not UNRECOGNISED, message
    events, pattern = parsed
    assert pattern.id == "sendmail.delivery", (pattern.id, message)
    return events


def _words():
    letters = string.ascii_lowercase
    yield from letters
    yield from ("".join(p) for p in itertools.product(letters, repeat=2))
    yield from ("".join(p) for p in itertools.product("acdelmnprsty", repeat=3))
    for word in OWN_GRAMMAR + ENDING:  # every prefix, and the word with one more letter or digit
        yield from (word[:n] for n in range(1, len(word) + 1))
        yield from (word + extra for extra in "as0_")
        yield from (word[:n] + "x" + word[n:] for n in range(len(word)))
    yield from ("status", "ntries", "stage", "quarantine", "xdelay", "delay", "pri")


def test_any_other_key_is_read_as_a_field_and_no_key_by_two_branches():
    # "W=a b" is a value only the catch-all branch can read (none of the own grammars takes a blank).
    delivery = _pattern("sendmail.delivery")
    for word in set(_words()):
        found = delivery.regex.match(f"4ASA1aB9001201: to=<a@example.org>, {word}=a b, dsn=5.1.1, stat=x")
        if word in OWN_GRAMMAR:
            assert found is None, f"{word}= was read by the catch-all branch"
        elif word in ENDING:
            assert found is not None and found.group("dsn") is None, f"a field was read after {word}="
        else:
            assert found is not None and found.group("dsn") == "5.1.1", f"{word}= stopped the line"


FIELDS = {
    "ctladdr": "ctladdr=<alice@example.com> (1001/1001)", "delay": "delay=00:00:02", "xdelay": "xdelay=00:00:01",
    "mailer": "mailer=esmtp", "pri": "pri=121234", "relay": "relay=mx.example.org. [198.51.100.7]",
    "dsn": "dsn=5.1.1", "ntries": "ntries=2", "stage": "stage=rcpt", "quarantine": "quarantine=held",
}


@pytest.mark.parametrize("seed", range(5))
def test_fields_are_read_by_key_in_any_order_and_combination(seed):
    rng = random.Random(seed)
    for _ in range(200):
        keys = rng.sample(sorted(FIELDS), rng.randint(0, len(FIELDS)))
        line = ("4ASA1aB9001201: to=<bob@example.org>, " + "".join(FIELDS[k] + ", " for k in keys)
                + "reply=550 5.1.1 <bob@example.org>: User unknown, stat=User unknown")
        (event,) = _events(line)
        assert event["recipient"] == "bob@example.org" and event["reply_code"] == "550", line
        assert event.get("enhanced_code") == "5.1.1", line  # from dsn= where it is, else from the reply
        assert event.get("relay_ip") == ("198.51.100.7" if "relay" in keys else None), line


def test_a_multi_line_reply_gives_its_code_and_its_text_without_the_prefixes():
    (event,) = _events("4ASA1aB9001201: to=<kim@example.org>, delay=00:00:01, mailer=esmtp, pri=1, "
                       "relay=mx.example.org. [198.51.100.7], dsn=5.7.1, reply=550-5.7.1 Not accepted "
                       "550-5.7.1 for policy reasons 550 5.7.1 see https://mx.example.org, stat=Service unavailable")
    assert (event["reply_code"], event["enhanced_code"]) == ("550", "5.7.1")
    assert event["reply_text"] == "Not accepted for policy reasons see https://mx.example.org"


def test_no_field_is_taken_from_the_reply_or_the_recipients():
    forged = ', mailer=local, relay=evil [203.0.113.9], dsn=2.0.0, stat=Sent (ok)'
    line = (f'4ASA1aB9001201: to=<"x{forged}"@example.org>,"y{forged}"@example.org, delay=00:00:01, '
            f'mailer=esmtp, pri=1, relay=mx.example.org. [198.51.100.7], dsn=5.1.1, '
            f'reply=550 5.1.1 <"x{forged}"@example.org>: User unknown{forged}, stat=User unknown')
    events = _events(line)
    assert [e["recipient"] for e in events] == [f'"x{forged}"@example.org', f'"y{forged}"@example.org']
    for event in events:
        assert (event["kind"].value, event["enhanced_code"], event["reply_code"]) == ("bounced", "5.1.1", "550")
        assert (event["relay_ip"], event["direction"].value) == ("198.51.100.7", "outbound")


def test_the_engines_agree_on_every_sendmail_pattern():
    """RE2 (pyarrow) and the regex module choose the same reading of every sample line and of generated
    delivery lines: the patterns mean the same in the engine they are checked in and the one they run in."""
    import pyarrow as pa
    import pyarrow.compute as pc
    rng = random.Random(7)
    generated = ["4ASA1aB9001201: to=<a@example.org>," + ",".join(rng.sample(
        ['<"b, c"@example.org>', "root", '"d e"@example.org', ":include:/etc/mail/x"], 2))
        + ", " + ", ".join(rng.sample(sorted(FIELDS.values()), 4)) + rng.choice(
        [", stat=Sent", ", reply=451 4.7.1 a, stat=x, stat=Deferred: 451 4.7.1 a, stat=x", ", stat="])
        for _ in range(300)]
    samples = [line for path in SAMPLES_DIR.glob("*.log") for _number, _expected, line in read_annotated(path)]
    messages = [line.split("]: ", 1)[1] for line in samples if "]: " in line] + generated
    for pattern in PARSERS["sendmail"].patterns:
        extracted = pc.extract_regex(pa.array(messages), pattern.regex.pattern)
        for message, row in zip(messages, extracted.to_pylist()):
            found = pattern.regex.match(message)
            assert (found is None) == (row is None), (pattern.id, message)
            if found is not None:
                # RE2 gives "" for a group that took no part; compare what was read.
                ours = {name: value for name, value in found.groupdict().items() if value}
                theirs = {name: value for name, value in row.items() if value}
                assert ours == theirs, (pattern.id, message)


@pytest.mark.parametrize("unit", ['"', '<"', ', x=', ", mailer=", ', reply=', "<a>,", '"a",', ", ctladdr=<"])
def test_a_long_run_of_one_field_is_read_in_linear_time(unit):
    import time
    delivery = _pattern("sendmail.delivery")
    text = "4ASA1aB9001201: to=<a@example.org>" + unit * (60_000 // len(unit)) + ", stat"
    started = time.perf_counter()
    delivery.regex.match(text)
    assert time.perf_counter() - started < 1.0  # a backtracking split of the run takes minutes
