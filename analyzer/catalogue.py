"""The catalogue of SMTP reply codes: entries loaded from patterns/catalogue/, looked up by code or text.

Exact enhanced codes belong to the enhanced-* families; the `enhanced` lists of basic and text-rule
entries say which enhanced codes they usually come with, and are not used for lookup.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import regex

from .patternfiles import GUARDED_LENGTH, PATTERNS_DIR, TEXT_FIELDS, TIMEOUT_SECONDS, load_catalogue_files

CLASS_NAMES = {
    "en": {"2": "2xx Positive Completion", "3": "3xx Positive Intermediate",
           "4": "4xx Transient Negative", "5": "5xx Permanent Negative"},
    "ja": {"2": "2xx 肯定完了", "3": "3xx 肯定中間", "4": "4xx 一時的否定", "5": "5xx 永続的否定"},
}
SUBJECT_NAMES = {
    "en": {"0": "Other or Undefined Status", "1": "Addressing Status", "2": "Mailbox Status",
           "3": "Mail System Status", "4": "Network and Routing Status", "5": "Mail Delivery Protocol Status",
           "6": "Message Content or Media Status", "7": "Security or Policy Status"},
    "ja": {"0": "その他・未定義のステータス", "1": "アドレスのステータス", "2": "メールボックスのステータス",
           "3": "メールシステムのステータス", "4": "ネットワーク・ルーティングのステータス",
           "5": "配送プロトコルのステータス", "6": "メッセージ内容・メディアのステータス",
           "7": "セキュリティ・ポリシーのステータス"},
}
LANGUAGES = ("en", "ja")


@dataclass(frozen=True, slots=True)
class Texts:
    title: str
    meaning: str
    when: str
    fix: str
    check: str


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    family: str
    codes: tuple[str, ...]
    enhanced: tuple[str, ...]
    name: str
    category: str
    primary: bool
    provider: str | None
    texts: tuple[regex.Pattern, ...]
    rfc: str
    en: Texts
    ja: Texts
    file: str

    def texts_in(self, language: str) -> Texts:
        return self.ja if language == "ja" else self.en

    @property
    def is_text_rule(self) -> bool:
        return bool(self.texts)


def code_class(code: str | None) -> str | None:
    """'5' for '550' or '5.7.1'; None for anything that is not a code."""
    if code and code[0] in "2345":
        return code[0]
    return None


def permanence(code: str | None) -> bool | None:
    """True for a 5xx failure, False for a 4xx transient one, None for success or no code."""
    digit = code_class(code)
    return {"5": True, "4": False}.get(digit) if digit else None


class Catalogue:
    """Every entry, with the indexes the classifier and `explain` use."""

    def __init__(self, entries: list[Entry], tested: frozenset[str] = frozenset()):
        """`tested`: ids of the entries whose text rules are tested on worst-case input (the packaged ones)."""
        self.entries: dict[str, Entry] = {e.id: e for e in entries}
        self.basic: dict[str, Entry] = {}
        self.enhanced: dict[str, Entry] = {}
        self.details: dict[str, Entry] = {}  # "7.1" -> the entry of X.7.1, whatever class a server uses
        self.subjects: dict[str, Entry] = {}
        self.classes: dict[str, Entry] = {}
        self.text_rules: list[tuple[Entry, regex.Pattern]] = []
        for entry in entries:
            if entry.family.startswith("basic-") and entry.primary:
                for code in entry.codes:
                    self.basic[code] = entry
            if entry.family.startswith("enhanced-"):
                for code in entry.enhanced:
                    if code.endswith(".XXX.YYY"):
                        self.classes[code[0]] = entry
                    elif code.startswith("X.") and code.endswith(".YYY"):
                        self.subjects[code.split(".")[1]] = entry
                    else:
                        self.enhanced[code] = entry
                        self.details.setdefault(code[2:], entry)
            for pattern in entry.texts:
                self.text_rules.append((entry, pattern))
        # Provider rules are the most specific: they are tried before generic MTA wording.
        self.text_rules.sort(key=lambda rule: rule[0].family == "texts-mta")
        self._guarded = [entry.id not in tested for entry, _rule in self.text_rules]  # by rule, in that order
        # Whether any text rule is about a success (a user's rule may be): if none, 2xx replies skip them.
        self.rules_for_success = any(code[0] == "2" for entry, _rule in self.text_rules
                                     for code in entry.codes + entry.enhanced)

    def __len__(self) -> int:
        return len(self.entries)

    def by_code(self, code: str) -> tuple[Entry, str] | None:
        """The entry for a basic or enhanced code, and how it was found (enhanced|subject|basic|class)."""
        if "." in code:
            entry = self.enhanced.get(code) or self.details.get(code[2:])
            if entry:
                return entry, "enhanced"
            parts = code.split(".")
            if len(parts) == 3 and parts[1] in self.subjects:
                return self.subjects[parts[1]], "subject"
            if code[0] in self.classes:
                return self.classes[code[0]], "class"
            return None
        entry = self.basic.get(code)
        return (entry, "basic") if entry else None

    def by_text(self, text: str) -> tuple[Entry, str | None] | None:
        """The first text rule found in a reply text, with its captured detail (a DNSBL name...)."""
        long = len(text) > GUARDED_LENGTH
        for (entry, pattern), guarded in zip(self.text_rules, self._guarded):
            if guarded or long:
                try:
                    found = pattern.search(text, timeout=TIMEOUT_SECONDS)
                except TimeoutError:  # a user rule gone exponential on hostile text: no match, no crash
                    continue
            else:
                found = pattern.search(text)
            if found:
                detail = found.groupdict().get("detail") if "detail" in pattern.groupindex else None
                return entry, detail
        return None

    def find(self, query: str) -> Entry | None:
        """An entry for what a user types: an entry id, a code, or a reply text."""
        query = query.strip()
        if query in self.entries:
            return self.entries[query]
        found = self.by_code(query)
        if found:
            return found[0]
        rule = self.by_text(query)
        if rule:
            return rule[0]
        lowered = query.lower()
        for entry in self.entries.values():
            if entry.name.lower() == lowered or entry.en.title.lower() == lowered:
                return entry
        return None


def load_catalogue(extra_rules: list[Path] | None = None, directory: Path | None = None) -> Catalogue:
    """The packaged catalogue, with user rule files (--rules) placed before it so their texts win."""
    entries = _load_packaged(directory or PATTERNS_DIR / "catalogue")
    tested = frozenset(e.id for e in entries) if directory is None else frozenset()
    if extra_rules:
        known = {e.id for e in entries}
        user_entries = [_entry(raw) for raw in load_catalogue_files(list(extra_rules), known_ids=known)]
        entries = user_entries + entries
    return Catalogue(entries, tested)


def _entry(raw: dict) -> Entry:
    return Entry(
        id=raw["id"], family=raw["family"], codes=tuple(raw.get("codes", ())),
        enhanced=tuple(raw.get("enhanced", ())), name=raw["name"], category=raw["category"],
        primary=raw.get("primary", False), provider=raw.get("provider"), texts=raw["texts"],
        rfc=raw.get("rfc", ""), en=Texts(**{k: raw["en"][k] for k in TEXT_FIELDS}),
        ja=Texts(**{k: raw["ja"][k] for k in TEXT_FIELDS}), file=raw["file"])


@functools.lru_cache(maxsize=4)
def _load_packaged_cached(directory: str) -> tuple[Entry, ...]:
    files = sorted(Path(directory).glob("*.toml"))
    return tuple(_entry(raw) for raw in load_catalogue_files(files))


def _load_packaged(directory: Path) -> list[Entry]:
    return list(_load_packaged_cached(str(directory)))
