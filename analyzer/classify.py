"""Map an event to the catalogue entry that best explains it.

Precedence, first hit wins:
1. text: a text rule (provider or MTA reject text) found in the reply text; providers reuse registry
   numbers with their own meanings, so their words beat the number;
2. enhanced: the exact enhanced code (5.1.1);
3. subject: the enhanced subject (X.7.YYY) of an unlisted detail number (5.7.40);
4. basic: the basic reply code's primary entry (550);
5. class: the enhanced class (5.XXX.YYY) of an enhanced code with an unknown subject (5.12.345), the
   class of a basic code no RFC defines (435), or 250 for a success known only by its enhanced code;
6. kind: for events without any code, the entry of what the event is (an auth failure, a protocol error).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .catalogue import Catalogue, permanence
from .events import Event, Kind

KIND_FALLBACK_CODES = {Kind.AUTH_FAILURE: "5.7.8", Kind.PROTOCOL_ERROR: "5.5.0"}
# Addresses, queue ids, message ids and sizes make every reply text unique; without them texts repeat and
# the cache works. Only the cache key is reduced: rules always see the real text. What is reduced is
# chosen so that no rule can tell two reduced texts apart: reply codes (5.7.27), DNSBL answers
# (127.0.0.2, 127.255.255.254), host names and short markers such as [TSS04] or S3150 are kept;
# client addresses, counts, sizes and ids go.
UNIQUE_TOKEN_RE = re.compile(
    r"<[^<>]{0,320}>"                                                # addresses
    r"|(?<![\w+/])[A-Za-z0-9+/]{20,}={0,2}(?![\w+/])"               # base64 ids (Dovecot GUIDs)
    r"|(?<![\w+=-])(?=[\w+=-]*\d)(?=[\w+=-]*[A-Za-z])[\w+=-]{10,}(?:\.\d+)?(?![\w+=-])"  # queue, message ids
    r"|(?<![\w.:])(?!127\.)\d{1,3}(?:\.\d{1,3}){3}(?![\w.])"          # IPv4 other than 127.x
    r"|(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])"  # IPv6
    r"|(?<![\w.])\d+(?:\.\d+)?(?![\w.])"                            # a count, a size, a delay
    r"|\d{5,}")                                                      # long numbers anywhere
CACHE_LIMIT = 200_000
# Most reply texts recur verbatim (the same reject to the same sender); those skip the reduction, whose
# regex costs more than the rest of classifying. Bounded in entries and in the length of texts it keeps.
EXACT_CACHE_LIMIT = 16_384
EXACT_TEXT_LIMIT = 512


@dataclass(frozen=True, slots=True)
class Classification:
    entry_id: str | None = None
    category: str | None = None
    permanent: bool | None = None
    matched_by: str | None = None  # text | enhanced | subject | basic | class | kind
    detail: str | None = None      # what a text rule captured, e.g. the DNSBL name


CLASSIFICATION_FIELDS = ("entry_id", "category", "permanent", "matched_by", "detail")
UNCLASSIFIED = Classification()


def _basic_says_more(catalogue: Catalogue, reply_code: str | None, enhanced_code: str) -> bool:
    """True when the basic code explains an event better than its enhanced code.

    X.0.0 says only "undefined"; and on a success (2xx) the enhanced detail names a failure subject
    ("other media error" for 250 2.6.0) unless its entry is itself about success (2.1.5).
    """
    if not reply_code or reply_code not in catalogue.basic:
        return False
    if enhanced_code[1:] == ".0.0":
        return True
    if reply_code[0] == "2":
        found = catalogue.by_code(enhanced_code)
        return not (found and found[0].category == "success")
    return False


def rule_text(reply_code: str | None, enhanced_code: str | None, reply_text: str | None) -> str:
    """What text rules search: the reply as the client saw it (some provider rules need the code too)."""
    return " ".join(part for part in (reply_code, enhanced_code, reply_text) if part)


class Classifier:
    """Classifies events against one catalogue, remembering answers for repeated replies."""

    def __init__(self, catalogue: Catalogue):
        self.catalogue = catalogue
        self._cache: dict[tuple, Classification] = {}
        self._exact: dict[tuple, Classification] = {}

    def __call__(self, event: Event) -> Classification:
        return self.lookup(event.reply_code, event.enhanced_code, event.kind, event.reply_text)

    def relevant_text(self, reply_code: str | None, enhanced_code: str | None, text: str | None) -> str | None:
        """The part of the reply text that can change the answer: none for a success when no text rule
        speaks of one (its code explains it, and the key stays short)."""
        code = reply_code or enhanced_code
        if text and code and code[0] == "2" and not self.catalogue.rules_for_success:
            return None
        return text

    def lookup(self, reply_code: str | None, enhanced_code: str | None, kind: Kind | None,
               text: str | None) -> Classification:
        """The classification of an event with these fields."""
        text = self.relevant_text(reply_code, enhanced_code, text)
        exact_key = (reply_code, enhanced_code, kind, text)
        found = self._exact.get(exact_key)
        if found is not None:
            return found
        key = (reply_code, enhanced_code, kind, UNIQUE_TOKEN_RE.sub("#", text) if text else None)
        found = self._cache.get(key)
        if found is None:
            found = self._classify(reply_code, enhanced_code, kind, text)
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = found
        if text is None or len(text) <= EXACT_TEXT_LIMIT:
            if len(self._exact) >= EXACT_CACHE_LIMIT:
                self._exact.clear()
            self._exact[exact_key] = found
        return found

    def _classify(self, reply_code: str | None, enhanced_code: str | None, kind: Kind | None,
                  text: str | None) -> Classification:
        catalogue = self.catalogue
        # The MTA's own verdict first: a deferral is transient whatever the reply (Postfix defers a 554
        # greeting and tries the next MX: dsn=4.7.1), and a delivery line's enhanced code is its dsn=.
        permanent = False if kind is Kind.DEFERRED else permanence(enhanced_code or reply_code)
        if text:
            rule = catalogue.by_text(rule_text(reply_code, enhanced_code, text))
            if rule:
                entry, detail = rule
                return Classification(entry.id, entry.category, permanent, "text", detail)
        # A success known only by its enhanced code (Sendmail and local Postfix deliveries log just
        # dsn=2.0.0) is explained by the basic success code, 250, as a class match.
        implied = "250" if not reply_code and enhanced_code and enhanced_code.startswith("2.") else None
        basic = reply_code or implied
        order = []
        if enhanced_code and not _basic_says_more(catalogue, basic, enhanced_code):
            order.append(enhanced_code)
        if basic:
            order.append(basic)
        best = None
        for code in order:
            found = catalogue.by_code(code)
            if found and code == implied:
                found = (found[0], "class")
            # A class-only match for the enhanced code is weaker than the basic code's own entry.
            if found and (found[1] != "class" or not basic):
                best = found
                break
            best = best or found
        if best is None and not order and kind in KIND_FALLBACK_CODES:
            found = catalogue.by_code(KIND_FALLBACK_CODES[kind])
            if found:
                return Classification(found[0].id, found[0].category, None, "kind")
        if best is None and reply_code and reply_code[0] in catalogue.classes:
            # A basic code no RFC defines (435, 599): its class is all that is known.
            best = catalogue.classes[reply_code[0]], "class"
        if best is None:
            return UNCLASSIFIED
        entry, how = best
        return Classification(entry.id, entry.category, permanent, how)


def classify(event: Event, catalogue: Catalogue) -> Classification:
    """The catalogue entry for one event (see the module docstring for the precedence)."""
    return Classifier(catalogue)(event)
