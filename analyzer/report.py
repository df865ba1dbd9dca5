"""Report tables, as pandas DataFrames and as the rows `report` writes; this module neither reads nor prints.

The Summary (aggregate.py) is folded from events without keeping them; the functions here turn its
bounded state into the tables `analyze` prints and the CSV rows `report` writes.
"""
from __future__ import annotations

import re
import datetime as dt
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from .aggregate import NO_VALUE, Summary, per_day_counts
from .catalogue import Catalogue
from .errors import UsageError
from .events import Kind
from .timestamps import ONE_DAY

if TYPE_CHECKING:  # pandas is imported where a table is built: it is a fifth of the start-up of a
    import pandas as pd  # command, and events, spikes, watch and explain build no table

KIND_ORDER = [k.value for k in Kind]
DAILY_COLUMNS = ["date", "host", "mta", "kind", "direction", "reply_code", "enhanced_code", "entry_id", "category",
                 "permanent", "title", "count", "distinct_clients", "distinct_senders", "distinct_recipients",
                 "first_seen", "last_seen", "example", "fix"]
SUMMARY_COLUMNS = ["date", "host", "mta", *KIND_ORDER, "top_problem", "top_problem_count"]
# A spreadsheet runs a cell that starts with one of these as a formula; log text is written by strangers.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


# Unicode's explicit bidirectional controls: in a cell or on a terminal they reorder the text after them, so a
# host name can make the address beside it read as another (the "Trojan Source" display trick).
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
BIDI_RE = re.compile(f"[{BIDI_CONTROLS}]")


def neutralise_cell(text: str) -> str:
    """Log text made inert for spreadsheets: a leading formula character gets a quote in front, and
    bidirectional controls are written as \\uNNNN."""
    if not text or text == NO_VALUE:
        return text
    if not text.isascii():
        text = BIDI_RE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def is_problem_code(reply_code, enhanced_code) -> bool:
    """True for a row of a failure code (4xx or 5xx, basic or enhanced): the rows a fix is shown for."""
    return str(reply_code)[:1] in "45" or str(enhanced_code)[:1] in "45"


def entry_texts(catalogue: Catalogue, entry_id: str, language: str):
    entry = catalogue.entries.get(entry_id)
    return entry.texts_in(language) if entry else None


def to_frame(rows: list, columns: list[str]) -> pd.DataFrame:
    import pandas as pd
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    return pd.DataFrame.from_records(rows, columns=columns)


def totals_by_kind(summary: Summary) -> pd.DataFrame:
    """Events per MTA and host (rows) and kind (columns), kinds in their fixed order."""
    return _by_kind(summary.kinds, ["mta", "host", "kind"])


def _by_kind(counts: dict[tuple, int], names: list[str]) -> pd.DataFrame:
    """Counts keyed by (..., kind) as a table: the other key parts as rows, kinds as columns in KIND_ORDER."""
    import pandas as pd
    if not counts:
        return pd.DataFrame(columns=KIND_ORDER)
    series = pd.Series(counts)
    series.index.names = names
    table = series.unstack("kind", fill_value=0).sort_index()
    table = table.reindex(columns=[k for k in KIND_ORDER if k in table.columns])
    table.columns.name = "kind"
    return table.astype("int64")


def top_codes(summary: Summary, catalogue: Catalogue, language: str, top: int) -> pd.DataFrame:
    """The most frequent (reply code, enhanced code, entry) triples with name, count, share and fix."""
    columns = ["reply_code", "enhanced_code", "entry_id", "count", "share", "name", "fix"]
    rows = []
    ordered = sorted(summary.codes.items(), key=lambda item: (-item[1], item[0]))[:top]
    for (reply_code, enhanced_code, entry_id), count in ordered:
        texts = entry_texts(catalogue, entry_id, language)
        rows.append((reply_code, enhanced_code, entry_id, count, count / summary.coded_events,
                     texts.title if texts else NO_VALUE, texts.fix if texts else NO_VALUE))
    return to_frame(rows, columns)


def top_rejected_clients(summary: Summary, top: int) -> pd.DataFrame:
    """Clients with the most rejections, with their most common reason."""
    rows = []
    for ip, count in summary.rejected_clients.most_common(top):
        entries = summary.rejected_clients.payloads.get(ip)
        rows.append((ip, count, entries.most_common(1)[0][0] if entries else NO_VALUE))
    return to_frame(rows, ["client_ip", "count", "top_entry"])


def top_failing_domains(summary: Summary, top: int) -> pd.DataFrame:
    """Recipient domains of bounced, deferred and expired deliveries, with counts and most common entry."""
    rows = []
    for domain, _total in summary.failing_domains.most_common(top):
        detail = summary.failing_domains.payloads.get(domain) or {}
        entries = sorted(((n, k[6:]) for k, n in detail.items() if k.startswith("entry:")), key=lambda x: (-x[0], x[1]))
        rows.append((domain, detail.get("kind:bounced", 0), detail.get("kind:deferred", 0),
                     detail.get("kind:expired", 0), entries[0][1] if entries else NO_VALUE))
    return to_frame(rows, ["domain", "bounced", "deferred", "expired", "top_entry"])


def auth_failures_by_ip(summary: Summary, top: int) -> pd.DataFrame:
    """Authentication failures per client address, with distinct user names and first/last seen."""
    rows = []
    for ip, count in summary.auth_sources.most_common(top):
        source = summary.auth_sources.payloads.get(ip)
        rows.append((ip, count, source.usernames.count() if source else 0,
                     source.first_seen.isoformat() if source and source.first_seen else NO_VALUE,
                     source.last_seen.isoformat() if source and source.last_seen else NO_VALUE))
    return to_frame(rows, ["client_ip", "failures", "usernames", "first_seen", "last_seen"])


def per_day(summary: Summary) -> pd.DataFrame:
    """Events per calendar day (in the log's own time zone) and kind."""
    return _by_kind(per_day_counts(summary), ["date", "kind"])


def text_rule_share(summary: Summary) -> float:
    """Share of coded events whose entry came from a text rule rather than from the bare code."""
    return summary.text_matched / summary.coded_events if summary.coded_events else 0.0


def daily_report(summary: Summary, catalogue: Catalogue, language: str = "en") -> pd.DataFrame:
    """One row per date x host x mta x kind x reply_code x enhanced_code x entry_id (DAILY_COLUMNS)."""
    return to_frame(daily_rows(summary, catalogue, language), DAILY_COLUMNS)


def daily_rows(summary: Summary, catalogue: Catalogue, language: str = "en") -> list[tuple]:
    """The rows of daily_report as tuples: what `report` writes without importing pandas."""
    rank = {kind: position for position, kind in enumerate(KIND_ORDER)}
    ordered = sorted(summary.daily.items(),
                     key=lambda item: (item[0][0], item[0][1], item[0][2], rank.get(item[0][3], 99), -item[1].count,
                                       item[0][4], item[0][5], item[0][6]))
    rows = []
    for (date, host, mta, kind, reply_code, enhanced_code, entry_id), row in ordered:
        texts = entry_texts(catalogue, entry_id, language)
        code = reply_code if reply_code != NO_VALUE else enhanced_code
        rows.append((date, neutralise_cell(host), mta, kind, row.direction or NO_VALUE, reply_code, enhanced_code,
                     entry_id, row.category or NO_VALUE, code.startswith("5"), texts.title if texts else NO_VALUE,
                     row.count, row.clients.count(), row.senders.count(), row.recipients.count(),
                     row.first_seen.isoformat(), row.last_seen.isoformat(),
                     neutralise_cell(row.example) if row.example else NO_VALUE, texts.fix if texts else NO_VALUE))
    return rows


def daily_summary(summary: Summary) -> pd.DataFrame:
    """One row per date x host x mta: events per kind, and the most frequent problem entry."""
    return to_frame(daily_summary_rows(summary), SUMMARY_COLUMNS)


def daily_summary_rows(summary: Summary) -> list[tuple]:
    """The rows of daily_summary as tuples."""
    totals: dict[tuple, dict] = {}
    for (date, host, mta, kind, _reply, _enhanced, entry_id), row in summary.daily.items():
        record = totals.setdefault((date, host, mta), {"kinds": dict.fromkeys(KIND_ORDER, 0), "problems": {}})
        record["kinds"][kind] = record["kinds"].get(kind, 0) + row.count
        if kind != "delivered" and entry_id != NO_VALUE:
            record["problems"][entry_id] = record["problems"].get(entry_id, 0) + row.count
    rows = []
    for (date, host, mta), record in sorted(totals.items()):
        problems = sorted(record["problems"].items(), key=lambda item: (-item[1], item[0]))
        top_problem, top_count = problems[0] if problems else (NO_VALUE, 0)
        rows.append((date, neutralise_cell(host), mta, *(record["kinds"][k] for k in KIND_ORDER), top_problem,
                     top_count))
    return rows


def day_start(day: dt.date, zone: tzinfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)


def covers_day(day: str, since: datetime | None, until: datetime | None, zone: tzinfo) -> bool:
    """True when the window [since, until) holds the whole of `day` (ISO): a run with such a window has
    seen every event of that day the logs hold, so its rows may replace the day's rows of an earlier run.

    Without --since nothing is covered: a log's first day is whole only by chance (rotation cuts it at any
    hour). Without --until the window is open: the log can only grow, so a later run sees more of it."""
    if since is None:
        return False
    first = dt.date.fromisoformat(day)
    return since <= day_start(first, zone) and (until is None or until >= day_start(first + ONE_DAY, zone))


def days_cut_by(since: datetime | None, until: datetime | None, zone: tzinfo) -> set[str]:
    """The dates that an edge of the window falls inside (not on their midnight)."""
    cut = set()
    for edge in (since, until):
        if edge is not None:
            local = edge.astimezone(zone)
            if day_start(local.date(), zone) != local:
                cut.add(local.date().isoformat())
    return cut


def merge_daily_rows(existing: list[list[str]], fresh: list[tuple], since: datetime | None,
                     until: datetime | None, zone: tzinfo) -> list:
    """--append: the existing report's rows without the dates being written, plus the fresh rows, in date
    order. A date already in the report is replaced only by a run that covers the whole of it; any other
    overlap is refused, since replacing a day with part of it would lose counted rows."""
    written = {str(row[0]) for row in fresh}
    present = {row[0] for row in existing}
    clash = sorted(day for day in written & present if not covers_day(day, since, until, zone))
    if clash:
        raise UsageError(append_refusal(clash))
    kept = [row for row in existing if row[0] not in written]
    return sorted(kept + list(fresh), key=lambda row: str(row[0]))


def append_refusal(days: list[str]) -> str:
    shown = ", ".join(days[:5]) + (f" and {len(days) - 5} more" if len(days) > 5 else "")
    return (f"--append: the report already holds {shown}, which this run covers only in part; replacing them "
            f"would lose rows (the file is unchanged). Give whole days: --since and --until at midnight, "
            f"e.g. --since yesterday --until today")
