"""Load and validate the TOML data files in patterns/; the only code that knows their schema.

Every problem found is reported with file, entry id and field, all of them at once, as one
PatternFileError: a broken file is never half-loaded or silently skipped.
"""
from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path

import regex

from . import tomlcache
from .errors import PatternFileError
from .events import EVENT_FIELDS, Direction, Kind

PATTERNS_DIR = Path(__file__).resolve().parent.parent / "patterns"
# The line patterns and text rules we ship are written linear-time and tested on worst-case text (long runs,
# and real lines with a field repeated). As a last guard, text longer than GUARDED_LENGTH is searched with
# the regex module's timeout (a line that runs out is counted as skipped, regex-timeout; a text rule that
# runs out is no match). Shorter text is not: the timeout costs about 2 us a call, 10-13% of a run, and it
# measures wall-clock time, so on a busy machine it could also cut short a normal match: with it on every
# line, one test run of the Dask engine counted one failure less than one process, and a timeout is the
# only source of such a difference we know of. A user's rules (--rules), which nobody has tested, always
# have it.
GUARDED_LENGTH = 2048
TIMEOUT_SECONDS = 0.05
if not PATTERNS_DIR.is_dir():  # installed as a wheel: the data files travel inside the package
    PATTERNS_DIR = Path(__file__).resolve().parent / "patterns"

# Groups a line pattern may capture besides Event fields: `status` is a word mapped to a kind,
# `dsn` the enhanced code of a delivery line, `mailer` the Sendmail delivery agent, `reply` the reply
# Sendmail 8.17 logs beside stat=.
HELPER_GROUPS = frozenset({"status", "dsn", "mailer", "reply"})
# Event fields the pipeline fills from the line header, never from a pattern.
HEADER_FIELDS = frozenset({"timestamp", "host", "mta", "program", "pid", "kind", "direction",
                           "code_inferred", "file", "line_no"})
PATTERN_GROUPS = (frozenset(EVENT_FIELDS) - HEADER_FIELDS) | HELPER_GROUPS

BASIC_CODE_RE = regex.compile(r"[2-5]\d\d")
ENHANCED_CODE_RE = regex.compile(r"[245]\.\d{1,3}\.\d{1,3}")
ID_RE = regex.compile(r"[a-z0-9]+(?:[.-][a-z0-9]+)*")
# A group name is a field name, or a field name with a "__tag" suffix: linear-time engines (RE2, Rust regex)
# refuse a name used twice, so a field read in two alternatives is written sender__bare, sender__quoted.
GROUP_TAG_RE = regex.compile(r"__[a-z0-9_]+\Z")
# <<name/tag>> is the fragment with every group name tagged: a fragment used twice in one pattern.
FRAGMENT_REF_RE = regex.compile(r"<<(\w+)(?:/([a-z0-9]+))?>>")
GROUP_NAME_RE = regex.compile(r"\(\?P<(\w+)>")


def field_of_group(name: str) -> str:
    """The Event field (or helper) a regex group fills: its name without a "__tag" suffix."""
    return GROUP_TAG_RE.sub("", name)


def joined_regex(source: str) -> str:
    """A regex written across lines, as one: each line without its indentation and trailing blanks, and
    lines that start with "#" dropped as comments. RE2 has no verbose mode, so a long pattern is laid out
    in the file and joined here; a space that matters at a line's edge is written [ ]."""
    if "\n" not in source:
        return source
    lines = (line.strip() for line in source.splitlines())
    return "".join(line for line in lines if line and not line.startswith("#"))


@dataclass(frozen=True, slots=True)
class LinePattern:
    id: str
    mta: str
    services: frozenset[str] | None  # None: any service
    contains: tuple[str, ...]
    regex: regex.Pattern
    kind: Kind | None
    direction: Direction | None
    event: bool
    infer_reply_code: str | None
    infer_enhanced_code: str | None
    note: str
    file: str
    # Where client-written text comes before a field, a forged copy of the field could be taken for the
    # real one: when one of the `client_once` markers occurs more than once in the message up to the end of
    # the last `client_scope` (or in the whole message), the client fields are dropped rather than trusted;
    # when one of the `reply_once` markers does (in the same part), the reply code and enhanced code are,
    # with the relay that gave the reply. The event is kept. A marker ending in "[" (Exim's ") [") counts
    # only where an address follows it, and for the client only an address other than the one taken.
    client_once: tuple[str, ...] = ()
    client_scope: str | None = None
    reply_once: tuple[str, ...] = ()
    # With client_scope: the scope holds only when this group of the match starts right after the last
    # scope marker (Exim's set_id=, written last, whose marker a forged HELO may also hold).
    client_until: str | None = None
    # False for a line that never carries a reply code (Exim's "SMTP protocol error in "<command>" ...",
    # whose command is logged with its quotes unescaped): no code is read from its text.
    reply_codes: bool = True
    # True for a line of the MTA's own problems (a daemon's warning, error, fatal, panic): no event, and
    # counted as daemon-problem rather than as an ordinary line without one.
    problem: bool = False


# Bounds on a pattern or rule file (--rules is the user's, and may be anything): the largest packaged file
# is 125 KB and the longest text rule 243 characters. A 10 MB regex took 57 s and 2.4 GB to compile.
MAX_FILE_BYTES = 4 << 20
MAX_TEXT_RULE_CHARS = 2000


def _read_toml(path: Path) -> dict:
    try:
        # Not blocking: a FIFO is refused below instead of waiting for a writer that may never come.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise PatternFileError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    with os.fdopen(descriptor, "rb") as handle:
        try:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                raise PatternFileError([f"{path}: not a regular file"])
            content = handle.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise PatternFileError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    if len(content) > MAX_FILE_BYTES:
        raise PatternFileError([f"{path}: larger than {MAX_FILE_BYTES >> 20} MiB; not a pattern file"])
    try:
        return tomlcache.load(content)
    except UnicodeDecodeError as exc:
        raise PatternFileError([f"{path}: not valid TOML: not UTF-8 ({exc.reason})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise PatternFileError([f"{path}: not valid TOML: {exc}"]) from None


def _expand(text: str, fragments: dict[str, str]) -> str:
    def fragment(found: regex.Match) -> str:
        name, tag = found.group(1), found.group(2)
        if name not in fragments:
            return found.group(0)
        if tag is None:
            return fragments[name]
        return GROUP_NAME_RE.sub(lambda group: f"(?P<{group.group(1)}__{tag}>", fragments[name])
    return FRAGMENT_REF_RE.sub(fragment, text)


def load_line_patterns(path: Path) -> list[LinePattern]:
    """Read one patterns/lines/<mta>.toml file, validating every pattern."""
    data = _read_toml(path)
    problems: list[str] = []
    where = path.name
    mta = data.get("mta")
    if mta != path.stem:
        problems.append(f"{where}: field 'mta' must be {path.stem!r}, found {mta!r}")
    fragments = data.get("fragments", {})
    if not isinstance(fragments, dict) or not all(isinstance(v, str) for v in fragments.values()):
        problems.append(f"{where}: [fragments] must map names to regex strings")
        fragments = {}
    # A fragment may use the fragments written above it; each is expanded once, here.
    expanded_fragments: dict[str, str] = {}
    for name, fragment in fragments.items():
        expanded_fragments[name] = _expand(joined_regex(fragment), expanded_fragments)
    fragments = expanded_fragments
    patterns: list[LinePattern] = []
    seen: set[str] = set()
    for index, raw in enumerate(data.get("pattern", [])):
        pattern_id = raw.get("id") or f"#{index + 1}"
        here = f"{where}: pattern '{pattern_id}'"
        before = len(problems)
        if not isinstance(raw.get("id"), str) or not ID_RE.fullmatch(raw["id"]) \
                or not raw["id"].startswith(f"{path.stem}."):
            problems.append(f"{here}: field 'id' must be lowercase-kebab and start with '{path.stem}.'")
        if pattern_id in seen:
            problems.append(f"{here}: field 'id' is used twice")
        seen.add(pattern_id)
        unknown = set(raw) - {"id", "services", "contains", "regex", "kind", "direction", "event",
                              "infer", "note", "client_once", "client_scope", "reply_once", "client_until",
                              "reply_codes", "problem"}
        if unknown:
            problems.append(f"{here}: unknown field(s) {sorted(unknown)}")
        services = raw.get("services")
        if not isinstance(services, list) or not services or not all(isinstance(s, str) for s in services):
            problems.append(f"{here}: field 'services' must be a non-empty list of names (or [\"*\"])")
            services = ["*"]
        contains = raw.get("contains")
        contains = [contains] if isinstance(contains, str) else contains
        if not isinstance(contains, list) or not contains or not all(isinstance(c, str) and c for c in contains):
            problems.append(f"{here}: field 'contains' must be a non-empty string or list of strings")
            contains = [""]
        note = raw.get("note")
        if not isinstance(note, str) or not note.strip():
            problems.append(f"{here}: field 'note' must say what emits the line")
        kind = direction = None
        if "kind" in raw:
            try:
                kind = Kind(raw["kind"])
            except ValueError:
                problems.append(f"{here}: field 'kind' {raw['kind']!r} is not one of {[k.value for k in Kind]}")
        if "direction" in raw:
            try:
                direction = Direction(raw["direction"])
            except ValueError:
                problems.append(f"{here}: field 'direction' {raw['direction']!r} is not inbound/outbound/local")
        infer = raw.get("infer", {})
        infer_code, infer_enhanced = infer.get("reply_code"), infer.get("enhanced_code")
        if infer_code is not None and not (isinstance(infer_code, str) and BASIC_CODE_RE.fullmatch(infer_code)):
            problems.append(f"{here}: field 'infer.reply_code' must be a string like \"535\"")
        if infer_enhanced is not None and not (isinstance(infer_enhanced, str)
                                               and ENHANCED_CODE_RE.fullmatch(infer_enhanced)):
            problems.append(f"{here}: field 'infer.enhanced_code' must be a string like \"5.7.8\"")
        markers = {}
        for name in ("client_once", "reply_once"):
            value = raw.get(name, [])
            value = [value] if isinstance(value, str) else value
            if not isinstance(value, list) or not all(isinstance(m, str) and m for m in value):
                problems.append(f"{here}: field '{name}' must be a marker string or a list of them")
                value = []
            markers[name] = tuple(value)
        if not isinstance(raw.get("reply_codes", True), bool):
            problems.append(f"{here}: field 'reply_codes' must be true or false")
        if not isinstance(raw.get("problem", False), bool):
            problems.append(f"{here}: field 'problem' must be true or false")
        elif raw.get("problem") and raw.get("event", True):
            problems.append(f"{here}: field 'problem' needs event = false (a daemon's problem is no event)")
        if raw.get("client_scope") is not None and not (isinstance(raw["client_scope"], str)
                                                        and raw["client_scope"]):
            problems.append(f"{here}: field 'client_scope' must be a marker string")
        source = raw.get("regex")
        compiled = None
        if isinstance(source, str):
            source = joined_regex(source)
        if not isinstance(source, str) or not source.startswith("^"):
            problems.append(f"{here}: field 'regex' must be a string anchored with '^'")
        else:
            expanded = _expand(source, fragments)
            if "<<" in expanded and ">>" in expanded.split("<<", 1)[1]:
                problems.append(f"{here}: field 'regex' names an unknown fragment")
            try:
                compiled = regex.compile(expanded, regex.VERSION0)
            except regex.error as exc:
                problems.append(f"{here}: field 'regex' does not compile: {exc}")
            else:
                group_fields = {field_of_group(name) for name in compiled.groupindex}
                bad_groups = group_fields - PATTERN_GROUPS
                if bad_groups:
                    problems.append(f"{here}: field 'regex' has groups that are not Event fields: "
                                    f"{sorted(bad_groups)}")
                if raw.get("client_until") is not None and raw["client_until"] not in compiled.groupindex:
                    problems.append(f"{here}: field 'client_until' must name a group of the regex")
                event = raw.get("event", True)
                if event and kind is None and "status" not in group_fields:
                    problems.append(f"{here}: field 'kind' is needed (or a 'status' group)")
        if len(problems) == before and compiled is not None:
            patterns.append(LinePattern(
                id=pattern_id, mta=path.stem,
                services=None if "*" in services else frozenset(services),
                contains=tuple(contains), regex=compiled, kind=kind, direction=direction,
                event=bool(raw.get("event", True)), infer_reply_code=infer_code,
                infer_enhanced_code=infer_enhanced, note=note, file=str(path),
                client_once=markers["client_once"], client_scope=raw.get("client_scope"),
                reply_once=markers["reply_once"], client_until=raw.get("client_until"),
                reply_codes=raw.get("reply_codes", True) is not False, problem=raw.get("problem") is True))
    if not data.get("pattern"):
        problems.append(f"{where}: no [[pattern]] tables")
    if problems:
        raise PatternFileError(problems)
    return patterns


CATEGORIES = frozenset({"success", "auth", "relay", "recipient", "sender", "policy", "reputation", "content",
                        "capacity", "network", "routing", "protocol", "tls", "system", "other"})
TEXT_FIELDS = ("title", "meaning", "when", "fix", "check")
ENTRY_FIELDS = frozenset({"id", "codes", "enhanced", "name", "category", "primary", "provider", "texts", "rfc",
                          "en", "ja"})
ENHANCED_WILDCARD_RE = regex.compile(r"[245]\.XXX\.YYY|X\.\d\.YYY|X\.\d\.\d{1,3}")


def load_catalogue_files(paths: list[Path], known_ids: set[str] | None = None) -> list[dict]:
    """Validated catalogue entries (plain dicts, `texts` compiled) from catalogue TOML files."""
    problems: list[str] = []
    entries: list[dict] = []
    seen: dict[str, str] = {}
    known_ids = known_ids or set()
    for path in paths:
        data = _read_toml(path)
        where = path.name
        family = data.get("family")
        if family != path.stem:
            problems.append(f"{where}: field 'family' must be {path.stem!r}, found {family!r}")
        raw_entries = data.get("entry")
        if not isinstance(raw_entries, list) or not raw_entries:
            problems.append(f"{where}: no [[entry]] tables")
            continue
        for index, raw in enumerate(raw_entries):
            entry_id = raw.get("id") if isinstance(raw.get("id"), str) else f"#{index + 1}"
            here = f"{where}: entry '{entry_id}'"
            before = len(problems)
            if not ID_RE.fullmatch(entry_id) or "." in entry_id:
                problems.append(f"{here}: field 'id' must be lowercase-kebab")
            if entry_id in seen or entry_id in known_ids:
                problems.append(f"{here}: field 'id' is already used ({seen.get(entry_id, 'packaged catalogue')})")
            seen[entry_id] = where
            unknown = set(raw) - ENTRY_FIELDS
            if unknown:
                problems.append(f"{here}: unknown field(s) {sorted(unknown)}")
            codes = raw.get("codes", [])
            if not isinstance(codes, list) or not all(isinstance(c, str) and BASIC_CODE_RE.fullmatch(c)
                                                      for c in codes):
                problems.append(f"{here}: field 'codes' must list basic codes as strings like \"550\"")
            enhanced = raw.get("enhanced", [])
            if not isinstance(enhanced, list) or not all(
                    isinstance(c, str) and (ENHANCED_CODE_RE.fullmatch(c) or ENHANCED_WILDCARD_RE.fullmatch(c))
                    for c in enhanced):
                problems.append(f"{here}: field 'enhanced' must list codes like \"5.1.1\" or \"X.7.YYY\"")
            for field_name in ("name", "category"):
                if not isinstance(raw.get(field_name), str) or not raw[field_name].strip():
                    problems.append(f"{here}: field '{field_name}' is missing or empty")
            if isinstance(raw.get("category"), str) and raw["category"] not in CATEGORIES:
                problems.append(f"{here}: field 'category' {raw['category']!r} is not one of {sorted(CATEGORIES)}")
            if not isinstance(raw.get("primary", False), bool):
                problems.append(f"{here}: field 'primary' must be true or false")
            compiled = []
            texts = raw.get("texts", [])
            if not isinstance(texts, list) or not all(isinstance(t, str) and t for t in texts):
                problems.append(f"{here}: field 'texts' must be a list of regex strings")
                texts = []
            for position, text in enumerate(texts):
                if len(text) > MAX_TEXT_RULE_CHARS:
                    problems.append(f"{here}: field 'texts[{position}]' is longer than {MAX_TEXT_RULE_CHARS} "
                                    f"characters")
                    continue
                try:
                    compiled.append(regex.compile(text, regex.VERSION0))
                except regex.error as exc:
                    problems.append(f"{here}: field 'texts[{position}]' does not compile: {exc}")
            for language in ("en", "ja"):
                block = raw.get(language)
                if not isinstance(block, dict):
                    problems.append(f"{here}: field '{language}' is missing")
                    continue
                for name in TEXT_FIELDS:
                    value = block.get(name)
                    if not isinstance(value, str) or not value.strip():
                        problems.append(f"{here}: field '{language}.{name}' is empty")
            if not codes and not enhanced and not texts:
                problems.append(f"{here}: needs at least one of 'codes', 'enhanced', 'texts'")
            if len(problems) == before:
                entries.append({**raw, "family": path.stem, "texts": tuple(compiled), "file": str(path)})
    if problems:
        raise PatternFileError(problems)
    return entries
