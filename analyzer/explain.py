"""Catalogue pages as text, Markdown or JSON, in English or Japanese; no I/O here.

The comparison sections (key differences, which applies when) are built from the two entries' classes,
categories and texts, not written per pair.
"""
from __future__ import annotations

import json
import os

from .catalogue import CLASS_NAMES, LANGUAGES, SUBJECT_NAMES, Entry, code_class, permanence
from .errors import UsageError, check_format

PAGE_FORMATS = ("text", "markdown", "json")
HEADINGS = {
    "en": {"meaning": "What it means", "when": "When you meet it", "fix": "How to fix it",
           "check": "What to check in the log", "differences": "Key differences",
           "which": "Which applies when", "class": "Class", "category": "Category", "subject": "Subject",
           "permanence": "Permanence", "rfc": "Defined by", "provider": "Sent by"},
    "ja": {"meaning": "説明", "when": "このコードが表示される場合", "fix": "解決方法",
           "check": "ログで確認すること", "differences": "主な違い", "which": "どちらをいつ使うか",
           "class": "クラス", "category": "カテゴリ", "subject": "サブジェクト", "permanence": "恒久性",
           "rfc": "定義", "provider": "送信元"},
}
PERMANENCE_WORDS = {
    "en": {True: "permanent: the sender must change something; retrying as is will fail again",
           False: "transient: the sending server retries by itself, and it may succeed later",
           None: "not a failure"},
    "ja": {True: "恒久的: 送信側が何かを変えない限り、再送しても同じ結果になります",
           False: "一時的: 送信側サーバーが自動で再送し、後で成功する可能性があります",
           None: "失敗ではありません"},
}
CLASS_ADVICE = {
    "en": {"2": "a 2xx reply means the command succeeded; nothing needs fixing",
           "3": "a 3xx reply means the server waits for more input from the client (data or an AUTH answer)",
           "4": "a 4xx reply means a temporary failure; the sender's server queues the mail and retries",
           "5": "a 5xx reply means a permanent failure; the mail comes back or the command stays refused "
                "until someone changes something"},
    "ja": {"2": "2xx はコマンドが成功したことを示し、対処は不要です",
           "3": "3xx はサーバーがクライアントからの続きの入力（データや AUTH の応答）を待っていることを示します",
           "4": "4xx は一時的な失敗で、送信側サーバーがメールをキューに残して再送します",
           "5": "5xx は恒久的な失敗で、誰かが設定などを変えるまでメールは返送され、コマンドは拒否され続けます"},
}


def default_language() -> str:
    """Japanese when the locale says so, English otherwise."""
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(variable, "")
        if value:
            return "ja" if value.lower().startswith("ja") else "en"
    return "en"


def check_language(language: str | None) -> str:
    language = language or default_language()
    if language not in LANGUAGES:
        raise UsageError(f"unknown language {language!r}; choose en or ja")
    return language


def class_words(code: str, language: str) -> str:
    """'5xx Permanent Negative' for 550; for 5.7.8 also the subject."""
    digit = code_class(code)
    words = CLASS_NAMES[language].get(digit, "?")
    parts = code.split(".")
    if len(parts) == 3 and parts[1] in SUBJECT_NAMES[language]:
        words += f" / {SUBJECT_NAMES[language][parts[1]]}"
    return words


def display_code(query: str, entry: Entry) -> str:
    """The code to show for an entry: what the user typed if it is a code, else the entry's first code."""
    if query[:1] in "2345" and (query.isdigit() or "." in query):
        return query
    if entry.codes:
        return entry.codes[0]
    concrete = [c for c in entry.enhanced if c[0] in "245"]
    return concrete[-1] if concrete else entry.id


def page_record(query: str, entry: Entry, language: str) -> dict:
    """One explained entry as JSON-ready values."""
    code = display_code(query, entry)
    texts = entry.texts_in(language)
    return {"query": query, "code": code, "entry_id": entry.id, "name": entry.name, "title": texts.title,
            "class": class_words(code, language) if code_class(code) else None,
            "category": entry.category, "permanent": permanence(code),
            "rfc": entry.rfc or None, "provider": entry.provider,
            "meaning": texts.meaning, "when": texts.when, "fix": texts.fix, "check": texts.check}


def render_pages(pages: list[dict], language: str, format: str) -> str:
    """`maillog explain` output for one or more looked-up entries."""
    if format == "json":
        return json.dumps(pages, ensure_ascii=False, indent=2)
    words = HEADINGS[language]
    markdown = format == "markdown"
    blocks = []
    for page in pages:
        lines = [f"{'# ' if markdown else ''}SMTP {page['code']} {page['name']}"]
        facts = []
        if page["class"]:
            facts.append(f"{words['class']}: {page['class']}")
        facts.append(f"{words['category']}: {page['category']}")
        facts.append(f"{words['permanence']}: {PERMANENCE_WORDS[language][page['permanent']].split(':')[0]}")
        if page["rfc"]:
            facts.append(f"{words['rfc']}: {page['rfc']}")
        if page["provider"]:
            facts.append(f"{words['provider']}: {page['provider']}")
        lines.append(" | ".join(facts))
        for key in ("meaning", "when", "fix", "check"):
            lines += ["", f"{'## ' if markdown else ''}{words[key]}", _indent(page[key], markdown)]
        blocks.append("\n".join(lines))
    return ("\n\n" + ("---\n\n" if markdown else "")).join(blocks)


def _indent(text: str, markdown: bool) -> str:
    return text if markdown else "  " + text


def _first_sentence(text: str) -> str:
    for stop in ("。", ". "):
        if stop in text:
            return text.split(stop, 1)[0] + stop.strip()
    return text


def compare_record(pages: tuple[dict, dict], language: str) -> dict:
    """The comparison of two explained entries, sections built from their classes and texts."""
    a, b = pages
    ca, cb = code_class(a["code"]), code_class(b["code"])
    class_a, class_b = CLASS_NAMES[language].get(ca, "?"), CLASS_NAMES[language].get(cb, "?")
    if language == "ja":
        summary = f"{a['code']} は {class_a} 応答、{b['code']} は {class_b} 応答です。"
        if ca == cb:
            summary += " どちらも同じクラスで、違いは原因と対処にあります。"
    else:
        summary = f"{a['code']} is a {class_a} response, while {b['code']} is a {class_b} response."
        if ca == cb:
            summary += " Both are in the same class; they differ in cause and fix."
    words = HEADINGS[language]
    differences = [
        f"{words['class']}: {a['code']} {a['class'] or '-'} / {b['code']} {b['class'] or '-'}",
        f"{words['category']}: {a['code']} {a['category']} / {b['code']} {b['category']}",
        f"{words['permanence']}: {a['code']} {PERMANENCE_WORDS[language][a['permanent']]} / "
        f"{b['code']} {PERMANENCE_WORDS[language][b['permanent']]}",
        f"{words['rfc']}: {a['code']} {a['rfc'] or a['provider'] or '-'} / "
        f"{b['code']} {b['rfc'] or b['provider'] or '-'}",
    ]
    which = [f"{page['code']}: {_first_sentence(page['when'])}" for page in (a, b)]
    for digit in dict.fromkeys((ca, cb)):
        if digit in CLASS_ADVICE[language]:
            which.append(CLASS_ADVICE[language][digit] + ("。" if language == "ja" else "."))
    return {"title": f"SMTP {a['code']} {a['name']} vs {b['code']} {b['name']}", "summary": summary,
            "codes": [a, b], "differences": differences, "which": which}


def render_comparison(record: dict, language: str, format: str) -> str:
    """`maillog compare` output: title, contrast, meaning/when/fix per code, differences, which when."""
    if format == "json":
        return json.dumps(record, ensure_ascii=False, indent=2)
    markdown = format == "markdown"
    words = HEADINGS[language]
    head = "## " if markdown else ""
    bullet = "- " if markdown else "  - "
    lines = [f"{'# ' if markdown else ''}{record['title']}", "", record["summary"]]
    for key in ("meaning", "when", "fix"):
        lines += ["", f"{head}{words[key]}"]
        for page in record["codes"]:
            lines.append(f"{bullet}{page['code']} {page['title']}: {page[key]}")
    lines += ["", f"{head}{words['differences']}"] + [f"{bullet}{d}" for d in record["differences"]]
    lines += ["", f"{head}{words['which']}"] + [f"{bullet}{w}" for w in record["which"]]
    return "\n".join(lines)


def check_page_format(format: str) -> str:
    return check_format(format, PAGE_FORMATS)


def lookup_pages(queries: list[str], catalogue, language: str) -> list[dict]:
    """One page record per query (a code, an entry id or a reply text), in order."""
    pages = []
    for query in queries:
        entry = catalogue.find(query)
        if entry is None:
            raise UsageError(f"no catalogue entry for {query!r}: give a reply code (550), an enhanced "
                             f"code (5.7.1) or a reply text")
        pages.append(page_record(query, entry, language))
    return pages


def explain(queries: list[str], catalogue, language: str | None = None, format: str = "text") -> str:
    """The catalogue pages for codes or texts, as `maillog explain` prints them."""
    language, format = check_language(language), check_page_format(format)
    return render_pages(lookup_pages(queries, catalogue, language), language, format)


def compare(first: str, second: str, catalogue, language: str | None = None, format: str = "text") -> str:
    """The comparison page of two codes, as `maillog compare` prints it."""
    language, format = check_language(language), check_page_format(format)
    pages = lookup_pages([first, second], catalogue, language)
    return render_comparison(compare_record((pages[0], pages[1]), language), language, format)
