"""Writing what the commands produce: event streams, line counts, and files written whole or not at all."""
from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

import pandas as pd

from . import report
from .catalogue import Catalogue
from .classify import CLASSIFICATION_FIELDS, Classifier
from .errors import MaillogError, UsageError
from .events import EVENT_FIELDS, Event, LineOutcome, ParseStats, event_record
from .reader import inspect_line
from .sources import Source, read_lines

EVENT_FORMATS = ("jsonl", "csv")


@contextlib.contextmanager
def atomic_text_file(path: Path | None) -> Iterator[TextIO | None]:
    """A text file that appears at `path` only if the block succeeds (temporary file + rename)."""
    if path is None:
        yield None
        return
    directory = path.parent if str(path.parent) else Path(".")
    try:
        handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", newline="", dir=directory,
                                             prefix=f".{path.name}.", suffix=".tmp", delete=False)
    except OSError as exc:
        raise MaillogError(f"{path}: cannot write here: {exc.strerror or exc}") from None
    try:
        with handle:
            yield handle
        os.replace(handle.name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(handle.name)
        raise


def classified_record(event: Event, classifier: Classifier | None) -> dict:
    """The public event record, with the classification fields when a classifier is given."""
    record = event_record(event)
    if classifier is not None:
        found = classifier(event)
        for name in CLASSIFICATION_FIELDS:
            record[name] = getattr(found, name)
    return record


def write_events(events: Iterable[Event], out: TextIO, format: str, classifier: Classifier | None = None) -> int:
    """Stream events as JSON lines or CSV rows with the public field names; returns the count."""
    if format not in EVENT_FORMATS:
        raise UsageError(f"unknown format {format!r}; choose one of {', '.join(EVENT_FORMATS)}")
    written = 0
    if format == "jsonl":
        dumps = json.dumps
        for event in events:
            out.write(dumps(classified_record(event, classifier), ensure_ascii=False) + "\n")
            written += 1
        return written
    fields = EVENT_FIELDS + (CLASSIFICATION_FIELDS if classifier is not None else ())
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for event in events:
        writer.writerow(classified_record(event, classifier))
        written += 1
    return written


def check_line_text(line: str, catalogue: Catalogue, mta: str | None = None) -> list[str]:
    """What check-patterns prints for one line: the pattern, then each event's fields and entry."""
    inspection = inspect_line(line, mta=mta)
    where = f"{inspection.mta}/{inspection.service}" if inspection.mta else "-"
    result = [f"  {inspection.outcome.value}  {where}  pattern={inspection.pattern_id or '-'}"]
    classifier = Classifier(catalogue)
    for event in inspection.events:
        found = classifier(event)
        result.append(f"    kind={event.kind.value if event.kind else '-'} reply_code={event.reply_code or '-'} "
                      f"enhanced_code={event.enhanced_code or '-'} client_ip={event.client_ip or '-'} "
                      f"entry={found.entry_id or '-'} matched_by={found.matched_by or '-'}"
                      + (f" detail={found.detail}" if found.detail else ""))
    return result


def check_lines(sources: list[Source], catalogue: Catalogue, mta: str | None = None,
                only_unmatched: bool = False) -> Iterator[str]:
    """check-patterns output for every line of the sources."""
    problems: list[str] = []
    for source in sources:
        for line_no, line in enumerate(read_lines(source, problems), start=1):
            report = check_line_text(line, catalogue, mta)
            if only_unmatched and "unrecognised" not in report[0]:
                continue
            yield f"{source.name}:{line_no}: {sanitize(line)}"
            yield from report
    for problem in problems:
        yield f"warning: {problem}"


CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def sanitize(text: str) -> str:
    """Text from a log made safe for a terminal: control characters shown as \\xNN, never executed."""
    return CONTROL_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def format_stats(stats: ParseStats) -> str:
    """Line counts per MTA: read, with events, recognised without event, unrecognised, skipped."""
    columns = [o.value for o in LineOutcome]
    lines = [f"lines read: {stats.lines_read}, events: {stats.events}"
             + (f", lines with undecodable bytes: {stats.undecodable_lines}" if stats.undecodable_lines else "")]
    width = max([len(m) for m in stats.by_mta] + [8])
    lines.append(f"{'mta':<{width}} " + " ".join(f"{c:>13}" for c in columns))
    for mta, counts in sorted(stats.by_mta.items()):
        lines.append(f"{mta:<{width}} " + " ".join(f"{counts.get(c, 0):>13}" for c in columns))
    return "\n".join(lines)


def _cell(value) -> str:
    return "-" if value is None or value is pd.NA or (isinstance(value, float) and value != value) else str(value)


def _table(frame: pd.DataFrame, columns: list[str] | None = None) -> str:
    if frame.empty:
        return "  (none)"
    shown = frame if columns is None else frame[columns]
    shown = shown.astype(object).where(shown.notna(), "-")
    text = shown.to_string(index=not isinstance(shown.index, pd.RangeIndex), na_rep="-")
    return "\n".join("  " + sanitize(line) for line in text.splitlines())


ANALYSIS_HEADINGS = {
    "en": ("Events by MTA, host and kind", "Top reply codes", "Recommended fixes", "Top rejected clients",
           "Destinations that bounce or defer", "Authentication failures by client", "Events per day",
           "Lines", "of coded events were explained by a reply-text rule rather than the bare code"),
    "ja": ("MTA・ホスト・種類別のイベント数", "応答コード上位", "推奨される対処", "拒否回数の多いクライアント",
           "バウンス・遅延の多い宛先ドメイン", "クライアント別の認証失敗", "日別のイベント数", "行数",
           "(コード付きイベントのうち、コード単独ではなく応答テキストのルールで分類された割合)"),
}


def format_analysis(frame: pd.DataFrame, stats: ParseStats, catalogue: Catalogue, language: str,
                    top: int) -> str:
    """The one-screen summary `maillog analyze` prints."""
    heads = ANALYSIS_HEADINGS[language]
    codes = report.top_codes(frame, catalogue, language, top)
    shown_codes = codes.assign(share=(codes["share"] * 100).round(1).astype(str) + "%") if not codes.empty \
        else codes
    sections = [
        (heads[0], _table(report.totals_by_kind(frame))),
        (heads[1], _table(shown_codes, ["reply_code", "enhanced_code", "count", "share", "entry_id", "name"])),
        (heads[2], "\n".join(f"  {_cell(r.reply_code)} {_cell(r.enhanced_code)} {r.name}: {r.fix}"
                             for r in codes.itertuples() if _cell(r.reply_code)[:1] not in "23"
                             and _cell(r.enhanced_code)[:1] != "2") or "  (none)"),
        (heads[3], _table(report.top_rejected_clients(frame, top))),
        (heads[4], _table(report.top_failing_domains(frame, top))),
        (heads[5], _table(report.auth_failures_by_ip(frame, top))),
        (heads[6], _table(report.per_day(frame))),
        (heads[7], "\n".join("  " + line for line in format_stats(stats).splitlines())),
    ]
    share = report.text_rule_share(frame)
    body = "\n\n".join(f"{title}\n{text}" for title, text in sections)
    unparsed = stats.by_outcome.get(LineOutcome.UNRECOGNISED.value, 0)
    hint = (f"\n  {unparsed} unrecognised lines: see them with --unparsed FILE" if unparsed else "")
    return f"{body}{hint}\n\n{share:.1%} {heads[8]}"
