"""Summaries of events as pandas DataFrames; this module neither reads files nor prints.

All summaries are built on one events frame with fixed dtypes (codes as strings, tz-aware timestamps).
"""
from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from .catalogue import Catalogue
from .classify import Classifier
from .events import Event, Kind

FRAME_COLUMNS = {
    "timestamp": "object", "host": "string", "mta": "string", "kind": "string", "direction": "string",
    "client_ip": "string", "sender": "string", "recipient": "string", "relay_host": "string",
    "reply_code": "string", "enhanced_code": "string", "reply_text": "string", "sasl_username": "string",
    "entry_id": "string", "category": "string", "matched_by": "string", "date": "string",
}
KIND_ORDER = [k.value for k in Kind]


def events_frame(events: Iterable[Event], catalogue: Catalogue) -> pd.DataFrame:
    """One row per event, classified, with the columns of FRAME_COLUMNS."""
    classify = Classifier(catalogue)
    rows = []
    for event in events:
        found = classify(event)
        rows.append((event.timestamp, event.host, event.mta, event.kind.value if event.kind else None,
                     event.direction.value if event.direction else None, event.client_ip, event.sender,
                     event.recipient, event.relay_host, event.reply_code, event.enhanced_code,
                     event.reply_text, event.sasl_username, found.entry_id, found.category, found.matched_by,
                     event.timestamp.date().isoformat() if event.timestamp else None))
    frame = pd.DataFrame.from_records(rows, columns=list(FRAME_COLUMNS))
    frame = frame.astype({k: v for k, v in FRAME_COLUMNS.items() if v != "object"})
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame


def totals_by_kind(frame: pd.DataFrame) -> pd.DataFrame:
    """Events per MTA and host (rows) and kind (columns), kinds in their fixed order."""
    if frame.empty:
        return pd.DataFrame(columns=KIND_ORDER)
    table = pd.crosstab([frame["mta"], frame["host"].fillna("-")], frame["kind"])
    return table.reindex(columns=[k for k in KIND_ORDER if k in table.columns])


def top_codes(frame: pd.DataFrame, catalogue: Catalogue, language: str, top: int) -> pd.DataFrame:
    """The most frequent (reply code, enhanced code, entry) triples with name, count, share and fix."""
    coded = frame[frame["reply_code"].notna() | frame["enhanced_code"].notna()]
    if coded.empty:
        return pd.DataFrame(columns=["reply_code", "enhanced_code", "entry_id", "count", "share", "name", "fix"])
    grouped = (coded.groupby(["reply_code", "enhanced_code", "entry_id"], dropna=False).size()
               .rename("count").reset_index().sort_values(["count", "reply_code"], ascending=[False, True])
               .head(top))
    grouped["share"] = grouped["count"] / len(coded)
    names, fixes = [], []
    for entry_id in grouped["entry_id"]:
        entry = catalogue.entries.get(entry_id) if isinstance(entry_id, str) else None
        texts = entry.texts_in(language) if entry else None
        names.append(texts.title if texts else "")
        fixes.append(texts.fix if texts else "")
    grouped["name"], grouped["fix"] = names, fixes
    return grouped.reset_index(drop=True)


def top_rejected_clients(frame: pd.DataFrame, top: int) -> pd.DataFrame:
    """Clients with the most rejections, with their most common reason."""
    rejected = frame[(frame["kind"] == "rejected") & frame["client_ip"].notna()]
    if rejected.empty:
        return pd.DataFrame(columns=["client_ip", "count", "top_entry"])
    counts = rejected.groupby("client_ip").size().rename("count")
    reasons = rejected.groupby("client_ip")["entry_id"].agg(
        lambda s: s.mode().iloc[0] if not s.mode().empty else None).rename("top_entry")
    table = pd.concat([counts, reasons], axis=1).reset_index()
    return table.sort_values(["count", "client_ip"], ascending=[False, True]).head(top).reset_index(drop=True)


def top_failing_domains(frame: pd.DataFrame, top: int) -> pd.DataFrame:
    """Recipient domains of bounced and deferred deliveries, with counts and their most common entry."""
    failing = frame[frame["kind"].isin(["bounced", "deferred", "expired"]) & frame["recipient"].notna()]
    if failing.empty:
        return pd.DataFrame(columns=["domain", "bounced", "deferred", "top_entry"])
    domains = failing["recipient"].str.rsplit("@", n=1).str[-1].str.lower()
    failing = failing.assign(domain=domains)
    table = pd.crosstab(failing["domain"], failing["kind"])
    for kind in ("bounced", "deferred"):
        if kind not in table.columns:
            table[kind] = 0
    table["top_entry"] = failing.groupby("domain")["entry_id"].agg(
        lambda s: s.mode().iloc[0] if not s.mode().empty else None)
    table["total"] = table["bounced"] + table["deferred"]
    table = table.sort_values(["total", "domain"], ascending=[False, True]).head(top).reset_index()
    return table[["domain", "bounced", "deferred", "top_entry"]]


def auth_failures_by_ip(frame: pd.DataFrame, top: int) -> pd.DataFrame:
    """Authentication failures per client address, with distinct user names and first/last seen."""
    failures = frame[(frame["kind"] == "auth_failure") & frame["client_ip"].notna()]
    if failures.empty:
        return pd.DataFrame(columns=["client_ip", "failures", "usernames", "first_seen", "last_seen"])
    table = failures.groupby("client_ip").agg(
        failures=("kind", "size"), usernames=("sasl_username", "nunique"),
        first_seen=("timestamp", "min"), last_seen=("timestamp", "max")).reset_index()
    return table.sort_values(["failures", "client_ip"], ascending=[False, True]).head(top).reset_index(drop=True)


def per_day(frame: pd.DataFrame) -> pd.DataFrame:
    """Events per calendar day (in the log's own time zone) and kind."""
    dated = frame[frame["date"].notna()]
    if dated.empty:
        return pd.DataFrame(columns=KIND_ORDER)
    table = pd.crosstab(dated["date"], dated["kind"])
    return table.reindex(columns=[k for k in KIND_ORDER if k in table.columns])


def text_rule_share(frame: pd.DataFrame) -> float:
    """Share of coded events whose entry came from a text rule rather than from the bare code."""
    coded = frame[frame["reply_code"].notna() | frame["enhanced_code"].notna()]
    if coded.empty:
        return 0.0
    return float((coded["matched_by"] == "text").mean())


DAILY_COLUMNS = ["date", "host", "mta", "kind", "direction", "reply_code", "enhanced_code", "entry_id", "category",
                 "permanent", "title", "count", "distinct_clients", "distinct_senders", "distinct_recipients",
                 "first_seen", "last_seen", "example", "fix"]
SUMMARY_COLUMNS = ["date", "host", "mta", *KIND_ORDER, "top_problem", "top_problem_count"]
DAILY_KEYS = ["date", "host", "mta", "kind", "reply_code", "enhanced_code", "entry_id"]
NO_VALUE = "-"  # written where an event has no code, host or entry, so CSV columns never hold blanks
# A spreadsheet runs a cell that starts with one of these as a formula; log text is written by strangers.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(text: str) -> str:
    """Log text made inert for spreadsheets: a leading formula character gets a quote in front."""
    if text and text != NO_VALUE and text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def _kind_rank(kinds: pd.Series) -> pd.Series:
    return kinds.map({kind: rank for rank, kind in enumerate(KIND_ORDER)})


def daily_report(frame: pd.DataFrame, catalogue: Catalogue, language: str = "en") -> pd.DataFrame:
    """One row per date x host x mta x kind x reply_code x enhanced_code x entry_id (DAILY_COLUMNS)."""
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in DAILY_COLUMNS})
    work = frame[frame["date"].notna()].copy()
    for column in ("host", "reply_code", "enhanced_code", "entry_id", "direction"):
        work[column] = work[column].fillna(NO_VALUE).astype(object)
    grouped = work.groupby(DAILY_KEYS, sort=False, dropna=False)
    table = grouped.agg(
        direction=("direction", "first"), category=("category", "first"), count=("kind", "size"),
        distinct_clients=("client_ip", "nunique"), distinct_senders=("sender", "nunique"),
        distinct_recipients=("recipient", "nunique"), first_seen=("timestamp", "min"),
        last_seen=("timestamp", "max"), example=("reply_text", "first")).reset_index()
    code = table["reply_code"].where(table["reply_code"] != NO_VALUE, table["enhanced_code"])
    table["permanent"] = code.str.startswith("5")
    table["category"] = table["category"].fillna(NO_VALUE).astype(object)
    titles, fixes = [], []
    for entry_id in table["entry_id"]:
        entry = catalogue.entries.get(entry_id)
        texts = entry.texts_in(language) if entry else None
        titles.append(texts.title if texts else NO_VALUE)
        fixes.append(texts.fix if texts else NO_VALUE)
    table["title"], table["fix"] = titles, fixes
    table["example"] = table["example"].fillna(NO_VALUE).astype(object).map(neutralise_cell)
    table["host"] = table["host"].map(neutralise_cell)
    for column in ("first_seen", "last_seen"):
        table[column] = table[column].map(lambda t: t.isoformat())
    table = table.assign(_rank=_kind_rank(table["kind"])).sort_values(
        ["date", "host", "mta", "_rank", "count", "reply_code", "enhanced_code", "entry_id"],
        ascending=[True, True, True, True, False, True, True, True], kind="stable")
    return table[DAILY_COLUMNS].reset_index(drop=True)


def daily_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per date x host x mta: events per kind, and the most frequent problem entry."""
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in SUMMARY_COLUMNS})
    work = frame[frame["date"].notna()].copy()
    work["host"] = work["host"].fillna(NO_VALUE).astype(object)
    keys = ["date", "host", "mta"]
    counts = pd.crosstab([work["date"], work["host"], work["mta"]], work["kind"])
    counts = counts.reindex(columns=KIND_ORDER, fill_value=0).reset_index()
    problems = work[~work["kind"].isin(["delivered"]) & work["entry_id"].notna()]
    if problems.empty:
        counts["top_problem"], counts["top_problem_count"] = NO_VALUE, 0
    else:
        per_entry = problems.groupby(keys + ["entry_id"]).size().rename("top_problem_count").reset_index()
        per_entry = per_entry.sort_values(keys + ["top_problem_count", "entry_id"],
                                          ascending=[True, True, True, False, True])
        top = per_entry.drop_duplicates(keys).rename(columns={"entry_id": "top_problem"})
        counts = counts.merge(top, on=keys, how="left")
        counts["top_problem"] = counts["top_problem"].fillna(NO_VALUE).astype(object)
        counts["top_problem_count"] = counts["top_problem_count"].fillna(0).astype("int64")
    counts["host"] = counts["host"].map(neutralise_cell)
    counts.columns.name = None
    return counts.sort_values(keys, kind="stable")[SUMMARY_COLUMNS].reset_index(drop=True)


def merge_daily(existing: pd.DataFrame, fresh: pd.DataFrame) -> pd.DataFrame:
    """--append: the existing report without the dates being written, plus the fresh rows, in order."""
    kept = existing[~existing["date"].astype(str).isin(set(fresh["date"].astype(str)))]
    merged = pd.concat([kept.astype(object), fresh.astype(object)], ignore_index=True)
    return merged.sort_values("date", kind="stable").reset_index(drop=True)
