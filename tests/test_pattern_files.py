"""The data files in patterns/: schema, coverage by samples, and coverage of the reference registry."""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from analyzer.catalogue import load_catalogue
from analyzer.classify import rule_text
from analyzer.errors import PatternFileError
from analyzer.parsers import PARSERS
from analyzer import tomlcache
from analyzer.patternfiles import PATTERNS_DIR, load_catalogue_files, load_line_patterns
from analyzer.reader import inspect_line

from .conftest import FROZEN_NOW, SAMPLES_DIR, read_annotated

DATA_DIR = Path(__file__).parent / "data"
ALL_SAMPLES = [line for path in sorted(SAMPLES_DIR.glob("*.log")) for _n, _e, line in read_annotated(path)]


def test_every_line_pattern_has_a_sample():
    matched = {inspect_line(line, now=FROZEN_NOW).pattern_id for line in ALL_SAMPLES}
    missing = [p.id for parser in PARSERS.values() for p in parser.patterns if p.id not in matched]
    assert not missing, f"line patterns without a sample: {missing}"


def test_every_line_pattern_is_anchored():
    for parser in PARSERS.values():
        for pattern in parser.patterns:
            assert pattern.regex.pattern.startswith("^"), pattern.id


def test_every_text_rule_has_a_sample(catalogue):
    from analyzer.classify import Classifier
    classify = Classifier(catalogue)
    texts = [rule_text(e.reply_code, e.enhanced_code, e.reply_text)
             for line in ALL_SAMPLES for e in inspect_line(line, now=FROZEN_NOW).events if e.reply_text]
    unmatched = []
    for entry, pattern in catalogue.text_rules:
        if not any(pattern.search(text) for text in texts):
            unmatched.append(f"{entry.id}: {pattern.pattern}")
    assert not unmatched, f"text rules no sample reply matches: {unmatched}"
    assert classify  # the classifier loads with every rule


def test_no_sample_reply_matches_two_rules(catalogue):
    clashes = []
    for line in ALL_SAMPLES:
        for event in inspect_line(line, now=FROZEN_NOW).events:
            if not event.reply_text:
                continue
            text = rule_text(event.reply_code, event.enhanced_code, event.reply_text)
            hits = {entry.id for entry, pattern in catalogue.text_rules if pattern.search(text)}
            if len(hits) > 1:
                clashes.append(f"{sorted(hits)}: {event.reply_text[:100]}")
    assert not clashes, clashes


def test_every_registry_code_has_an_entry(catalogue):
    missing = []
    with (DATA_DIR / "smtp-codes.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            code = row["code"]
            if row["kind"] == "basic":
                found = [e for e in catalogue.entries.values() if code in e.codes and e.family.startswith("basic-")]
            else:
                found = [e for e in catalogue.entries.values() if code in e.enhanced
                         or any(c[0] in "245" and "X" + c[1:] == code for c in e.enhanced)]
            if not found:
                missing.append(code)
    assert not missing, f"registry codes without a catalogue entry: {missing}"


def test_each_basic_code_has_one_primary_entry(catalogue):
    primaries: dict[str, list[str]] = {}
    for entry in catalogue.entries.values():
        if entry.family.startswith("basic-") and entry.primary:
            for code in entry.codes:
                primaries.setdefault(code, []).append(entry.id)
    every_code = {c for e in catalogue.entries.values() if e.family.startswith("basic-") for c in e.codes}
    assert set(primaries) == every_code
    assert all(len(ids) == 1 for ids in primaries.values()), primaries


def test_every_provider_marker_is_matched_by_a_text_rule(catalogue):
    unmatched = []
    with (DATA_DIR / "provider-markers.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            marker = row["marker"]
            if not any(p.search(marker) or p.search(f"{row['code']} {row['enhanced']} {marker} - gsmtp")
                       for _e, p in catalogue.text_rules):
                unmatched.append(f"{row['provider']}: {marker}")
    assert not unmatched, unmatched


def test_entries_are_complete_in_both_languages(catalogue):
    for entry in catalogue.entries.values():
        for language in ("en", "ja"):
            texts = entry.texts_in(language)
            assert all(getattr(texts, f).strip() for f in ("title", "meaning", "when", "fix", "check")), entry.id
        assert any(ord(ch) > 0x3000 for ch in entry.ja.meaning), f"{entry.id}: ja.meaning is not Japanese"


def test_broken_line_pattern_file_names_file_pattern_and_field(tmp_path):
    path = tmp_path / "postfix.toml"
    path.write_text('mta = "postfix"\n[[pattern]]\nid = "postfix.x"\nservices = ["smtpd"]\ncontains = "a"\n'
                    'regex = \'^(?P<nonsense>a)\'\nkind = "rejected"\nnote = "n"\n', encoding="utf-8")
    with pytest.raises(PatternFileError) as caught:
        load_line_patterns(path)
    message = str(caught.value)
    assert "postfix.toml" in message and "postfix.x" in message and "regex" in message and "nonsense" in message


def test_broken_catalogue_file_names_file_entry_and_field(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('family = "mine"\n[[entry]]\nid = "my-rule"\ncodes = ["550"]\nname = "Mine"\n'
                    'category = "policy"\ntexts = [\'(?i)go away\']\n'
                    '[entry.en]\ntitle = "t"\nmeaning = "m"\nwhen = "w"\nfix = "f"\ncheck = "c"\n'
                    '[entry.ja]\ntitle = "t"\nmeaning = "m"\nwhen = "w"\nfix = ""\ncheck = "c"\n',
                    encoding="utf-8")
    with pytest.raises(PatternFileError) as caught:
        load_catalogue([path])
    assert "mine.toml: entry 'my-rule': field 'ja.fix' is empty" in str(caught.value)


def test_user_rules_win_over_the_packaged_catalogue(tmp_path):
    path = tmp_path / "local.toml"
    path.write_text('family = "local"\n[[entry]]\nid = "local-relay-policy"\ncodes = ["554"]\nname = "Ours"\n'
                    'category = "relay"\ntexts = [\'(?i)relay access denied\']\n'
                    '[entry.en]\ntitle = "t"\nmeaning = "m"\nwhen = "w"\nfix = "f"\ncheck = "c"\n'
                    '[entry.ja]\ntitle = "t"\nmeaning = "m"\nwhen = "w"\nfix = "f"\ncheck = "c"\n',
                    encoding="utf-8")
    catalogue = load_catalogue([path])
    assert catalogue.find("Relay access denied").id == "local-relay-policy"


LINE_FILE = ('mta = "postfix"\n[[pattern]]\nid = "postfix.x"\nservices = ["smtpd"]\ncontains = "{word}"\n'
             'regex = \'^(?P<reply_text>{word}.*)$\'\nkind = "rejected"\nnote = "n"\n')


def _shape(patterns):
    return [(p.id, p.services, p.contains, p.regex.pattern, p.kind, p.event, p.note) for p in patterns]


def test_pattern_cache_is_read_and_follows_edits(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("MAILLOG_CACHE_DIR", str(cache))
    path = tmp_path / "postfix.toml"
    path.write_text(LINE_FILE.format(word="first"), encoding="utf-8")
    fresh = load_line_patterns(path)
    assert len(list(cache.glob("patterns-*.json"))) == 1

    def no_parsing(*_args, **_kwargs):
        raise AssertionError("parsed the TOML although it is in the cache")
    monkeypatch.setattr(tomlcache.tomllib, "loads", no_parsing)
    assert _shape(load_line_patterns(path)) == _shape(fresh)
    monkeypatch.undo()
    monkeypatch.setenv("MAILLOG_CACHE_DIR", str(cache))
    path.write_text(LINE_FILE.format(word="other"), encoding="utf-8")  # same size, new content
    assert load_line_patterns(path)[0].contains == ("other",)


def test_packaged_patterns_are_the_same_through_the_cache(tmp_path, monkeypatch):
    catalogue_files = sorted((PATTERNS_DIR / "catalogue").glob("*.toml"))
    line_files = sorted((PATTERNS_DIR / "lines").glob("*.toml"))
    monkeypatch.setenv("MAILLOG_CACHE_DIR", "")
    uncached = (load_catalogue_files(catalogue_files), [_shape(load_line_patterns(f)) for f in line_files])
    monkeypatch.setenv("MAILLOG_CACHE_DIR", str(tmp_path))
    for _ in range(2):  # the first pass fills the cache, the second reads it
        cached = (load_catalogue_files(catalogue_files), [_shape(load_line_patterns(f)) for f in line_files])
        assert repr(cached) == repr(uncached)
    assert len(list(tmp_path.glob("patterns-*.json"))) == len(catalogue_files) + len(line_files)


@pytest.mark.parametrize("damage", ['{"mta": "postfix", "pattern": [', "null", "{}", '{"sha256": "x", "data": {}}'])
def test_a_damaged_cache_entry_is_parsed_over_and_replaced(tmp_path, monkeypatch, damage):
    path = tmp_path / "postfix.toml"
    path.write_text(LINE_FILE.format(word="word"), encoding="utf-8")
    cache = tmp_path / "cache"
    monkeypatch.setenv("MAILLOG_CACHE_DIR", str(cache))
    load_line_patterns(path)
    (entry,) = cache.glob("patterns-*.json")
    entry.write_text(damage, encoding="utf-8")
    assert load_line_patterns(path)[0].id == "postfix.x"
    assert json.loads(entry.read_text(encoding="utf-8"))["data"]["mta"] == "postfix"


def test_an_unwritable_cache_or_no_home_is_no_cache(tmp_path, monkeypatch):
    path = tmp_path / "postfix.toml"
    path.write_text(LINE_FILE.format(word="word"), encoding="utf-8")
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv("MAILLOG_CACHE_DIR", str(blocker))
    assert load_line_patterns(path)[0].id == "postfix.x"
    monkeypatch.delenv("MAILLOG_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(tomlcache.os.path, "expanduser", lambda text: text)  # no HOME, no passwd entry
    assert tomlcache.cache_dir() is None


def test_every_line_pattern_compiles_in_a_linear_time_engine():
    """The line patterns are written in the subset both the regex module and RE2 (pyarrow's engine, and
    the syntax of Rust's regex that polars runs) accept: no lookaround, backreferences, possessive or
    atomic groups, repeated group names or repeats over 1000. RE2 cannot be made to backtrack by a line."""
    import pyarrow as pa
    import pyarrow.compute as pc
    refused = {}
    for parser in PARSERS.values():
        for pattern in parser.patterns:
            try:
                pc.extract_regex(pa.array(["x"]), pattern.regex.pattern)
            except pa.ArrowInvalid as exc:
                refused[pattern.id] = str(exc)
            # RE2 takes a name used twice; Rust's regex (polars) does not.
            names = re.findall(r"\(\?P<(\w+)>", pattern.regex.pattern)
            if len(names) != len(set(names)):
                refused[pattern.id] = f"group names used twice: {sorted({n for n in names if names.count(n) > 1})}"
    assert not refused, refused


def test_a_field_may_be_read_in_two_alternatives_under_tagged_names(tmp_path):
    path = tmp_path / "postfix.toml"
    path.write_text('''mta = "postfix"
[[pattern]]
id = "postfix.x"
services = ["smtpd"]
contains = "from="
regex = \'\'\'
    ^from=(?:
        <(?P<sender__bracketed>[^>]*)>
      |(?P<sender__bare>[^<>\\s]+)
    )$
\'\'\'
kind = "other"
note = "a test"
''', encoding="utf-8")
    (pattern,) = load_line_patterns(path)
    assert pattern.regex.pattern == r"^from=(?:<(?P<sender__bracketed>[^>]*)>|(?P<sender__bare>[^<>\s]+))$"
    from analyzer.parsers.engine import MtaParser
    parser = MtaParser("postfix", path=path)
    assert parser.parse("smtpd", "from=<a@example.org>")[0] == [{"kind": "other", "sender": "a@example.org"}]
    assert parser.parse("smtpd", "from=b@example.org")[0] == [{"kind": "other", "sender": "b@example.org"}]
