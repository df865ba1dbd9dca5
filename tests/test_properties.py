"""Property tests: no input makes a parser raise, and mutated lines never invent a reply code."""
from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.classify import Classifier
from analyzer.reader import inspect_line

from .conftest import FROZEN_NOW

TEMPLATES = [
    "Nov 27 10:00:01 mx1 postfix/smtpd[2345]: NOQUEUE: reject: RCPT from unknown[192.0.2.10]: 554 5.7.1 "
    "<x@example.com>: Relay access denied; from=<a@example.net> to=<x@example.com> proto=ESMTP helo=<h>",
    "Nov 27 10:00:01 mx1 postfix/smtp[2346]: 4F2A1C0899: to=<u@example.org>, relay=mx.example.org[198.51.100.7]:25,"
    " delay=1.2, delays=0.1/0/0.5/0.6, dsn=5.1.1, status=bounced (host mx.example.org[198.51.100.7] said: 550 "
    "5.1.1 <u@example.org>: User unknown (in reply to RCPT TO command))",
    "2026-11-27 10:00:00 dovecot_login authenticator failed for (helo) [192.0.2.20]:41234: 535 Incorrect "
    "authentication data (set_id=bob)",
    "2026-11-27 10:00:00 1tZy4k-0000Xb-00A1 ** u@example.org R=dnslookup T=remote_smtp H=mx.example.org "
    "[198.51.100.7]: SMTP error from remote mail server after RCPT TO:<u@example.org>: 550 5.1.1 No such user",
    "Nov 27 10:00:00 mx1 sm-mta[4567]: 4ASA00hK004567: ruleset=check_rcpt, arg1=<x@example.com>, "
    "relay=host.example.net [192.0.2.30], reject=550 5.7.1 <x@example.com>... Relaying denied",
    "Nov 27 10:00:00 mx1 sm-mta[4568]: 4ASA00hK004568: to=<a@example.org>,<b@example.org>, delay=00:00:01, "
    "xdelay=00:00:01, mailer=esmtp, pri=120000, relay=mx.example.org. [198.51.100.7], dsn=4.7.1, "
    "stat=Deferred: 451 4.7.1 Try later",
]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_arbitrary_text_never_raises(text):
    for prefix in ("", "Nov 27 10:00:01 mx1 postfix/smtpd[1]: ", "2026-11-27 10:00:00 ",
                   "Nov 27 10:00:01 mx1 sm-mta[1]: "):
        inspect_line(prefix + text, now=FROZEN_NOW)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(TEMPLATES), st.integers(min_value=0, max_value=400), st.integers(min_value=0, max_value=40),
       st.text(max_size=30))
def test_mutated_lines_never_invent_a_code(catalogue, template, start, length, replacement):
    line = template[:start] + replacement + template[start + length:]
    inspection = inspect_line(line, now=FROZEN_NOW)
    classify = Classifier(catalogue)
    for event in inspection.events:
        classify(event)  # the classifier never raises either
        if event.reply_code and not event.code_inferred:
            assert re.search(rf"\b{event.reply_code}\b", line), (line, event.reply_code)
        if event.enhanced_code and not event.code_inferred:
            assert event.enhanced_code in line


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_decoded_never_raise(data, ):
    line = data.decode("utf-8", errors="replace")
    inspect_line("Nov 27 10:00:01 mx1 postfix/smtpd[1]: " + line, now=FROZEN_NOW)
