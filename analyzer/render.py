"""What analyze and spikes print: their summaries as text (tables for a terminal), Markdown or JSON.

Pure functions from results to strings; no reading, no writing.
"""
from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

from . import report
from .aggregate import TOP_CAPACITY, Summary
from .catalogue import Catalogue
from .errors import check_format
from .events import LineOutcome, ParseStats
from .output import format_stats, json_text, sanitize
from .report import neutralise_cell

if TYPE_CHECKING:  # pandas is imported where a table is built: it is a fifth of the start-up of a
    import pandas as pd  # command, and events, spikes, watch and explain build no table


def _cell(value) -> str:
    import pandas as pd
    return "-" if value is None or value is pd.NA or (isinstance(value, float) and value != value) else str(value)


def _table(frame: pd.DataFrame, columns: list[str] | None = None) -> str:
    import pandas as pd
    if frame.empty:
        return "  (none)"
    shown = frame if columns is None else frame[columns]
    shown = shown.astype(object).where(shown.notna(), "-")
    text = shown.to_string(index=not isinstance(shown.index, pd.RangeIndex), na_rep="-")
    return "\n".join("  " + sanitize(line) for line in text.splitlines())


ANALYSIS_HEADINGS = {
    "en": ("Events by MTA, host and kind", "Top reply codes", "Recommended fixes", "Top rejected clients",
           "Destinations that bounce or defer", "Authentication failures by client", "Events per day",
           "Lines", "of coded events were explained by a reply-text rule rather than the bare code",
           "Authentication-failure spikes"),
    "ja": ("MTA・ホスト・種類別のイベント数", "応答コード上位", "推奨される対処", "拒否回数の多いクライアント",
           "バウンス・遅延の多い宛先ドメイン", "クライアント別の認証失敗", "日別のイベント数", "行数",
           "(コード付きイベントのうち、コード単独ではなく応答テキストのルールで分類された割合)",
           "認証失敗の急増"),
}
SPIKE_WORDS = {
    "en": ("{failures} authentication failures in all; {count} spikes (maillog spikes shows the chart)",
           "{start} .. {end} on {host}: {failures} failures, {shape}, {ips} addresses, top {top}"),
    "ja": ("認証失敗は合計 {failures} 件、急増は {count} 回です(グラフは maillog spikes で表示)",
           "{start} .. {end} {host}: 失敗 {failures} 件、{shape}、アドレス {ips} 個、最多 {top}"),
}


def _spike_lines(found, language: str) -> list[str]:
    head, row = SPIKE_WORDS[language]
    lines = [head.format(failures=found.failures, count=len(found.spikes))]
    for spike in found.spikes:
        top = ", ".join(f"{ip} ({n})" for ip, n in spike.top_ips[:3]) or "-"
        lines.append(row.format(start=spike.start.isoformat(), end=spike.end.isoformat(), host=sanitize(spike.host),
                                failures=spike.failures, shape=spike.shape, ips=spike.distinct_ips, top=top))
    return lines


def _markdown_table(frame: pd.DataFrame) -> str:
    import pandas as pd
    if frame.empty:
        return "(none)"
    shown = frame.reset_index() if not isinstance(frame.index, pd.RangeIndex) else frame
    shown = shown.astype(object).where(shown.notna(), "-")
    header = "| " + " | ".join(str(c) for c in shown.columns) + " |"
    rule = "|" + "---|" * len(shown.columns)
    rows = ["| " + " | ".join(sanitize(str(v)).replace("|", "\\|") for v in row) + " |"
            for row in shown.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def _json_records(frame: pd.DataFrame) -> list[dict]:
    import pandas as pd
    shown = frame.reset_index() if not isinstance(frame.index, pd.RangeIndex) else frame
    shown = shown.astype(object).where(shown.notna(), None)
    records = shown.to_dict(orient="records")
    for record in records:
        for key, value in record.items():
            if hasattr(value, "isoformat"):
                record[key] = value.isoformat()
            elif hasattr(value, "item"):
                record[key] = value.item()
    return records


ANALYSIS_FORMATS = ("text", "markdown", "json")


def format_analysis(summary: Summary, stats: ParseStats, catalogue: Catalogue, language: str,
                    top: int, format: str = "text", found_spikes=None, colour: bool = False) -> str:
    """The one-screen summary `maillog analyze` prints, as text, Markdown or JSON."""
    check_format(format, ANALYSIS_FORMATS)
    heads = ANALYSIS_HEADINGS[language]
    codes = report.top_codes(summary, catalogue, language, top)
    fixes = codes[[report.is_problem_code(c, e) for c, e in
                   zip(codes["reply_code"], codes["enhanced_code"])]] if not codes.empty else codes
    tables = {
        "events_by_kind": report.totals_by_kind(summary),
        "top_codes": codes.drop(columns=["fix"]) if not codes.empty else codes,
        "top_rejected_clients": report.top_rejected_clients(summary, top),
        "failing_destinations": report.top_failing_domains(summary, top),
        "auth_failures_by_client": report.auth_failures_by_ip(summary, top),
        "events_per_day": report.per_day(summary),
    }
    share = report.text_rule_share(summary)
    approximate = [name for name, counter in (("top_rejected_clients", summary.rejected_clients),
                                              ("failing_destinations", summary.failing_domains),
                                              ("auth_failures_by_client", summary.auth_sources))
                   if counter.approximate]
    unparsed = stats.by_outcome.get(LineOutcome.UNRECOGNISED.value, 0)
    if format == "json":
        body = {name: _json_records(table) for name, table in tables.items()}
        body["recommended_fixes"] = _json_records(fixes)
        body["text_rule_share"] = round(share, 4)
        if found_spikes is not None:
            body["auth_failures"] = found_spikes.failures
            body["spikes"] = [spike.record() for spike in found_spikes.spikes]
        body["approximate"] = approximate
        body["lines"] = {"read": stats.lines_read, "events": stats.events, "unrecognised": unparsed,
                         "by_mta": {m: dict(c) for m, c in stats.by_mta.items()},
                         "undecodable": stats.undecodable_lines,
                         "events_outside_range": stats.events_outside_range,
                         "events_without_time": stats.events_without_time}
        return json_text(body, indented=True)
    fix_lines = [f"{_cell(r.reply_code)} {_cell(r.enhanced_code)} {r.name}: {r.fix}" for r in fixes.itertuples()]
    spike_lines = _spike_lines(found_spikes, language) if found_spikes is not None else []
    titles = [heads[0], heads[1], heads[3], heads[4], heads[5], heads[6]]
    if format == "markdown":
        if not codes.empty:
            tables["top_codes"] = tables["top_codes"].assign(
                share=(tables["top_codes"]["share"] * 100).round(1).astype(str) + "%")
        parts = [f"## {title}\n\n{_markdown_table(table)}" for title, table in zip(titles, tables.values())]
        parts.insert(2, f"## {heads[2]}\n\n" + ("\n".join(f"- {line}" for line in fix_lines) or "(none)"))
        if found_spikes is not None:
            parts.insert(6, f"## {heads[9]}\n\n" + "\n".join(f"- {line}" for line in spike_lines))
        parts.append(f"## {heads[7]}\n\n```\n{format_stats(stats)}\n```")
        if unparsed:
            parts.append(unrecognised_hint(unparsed))
        parts.append(f"{share:.1%} {heads[8]}")
        return "\n\n".join(parts)
    shown_codes = tables["top_codes"]
    if not shown_codes.empty:
        shown_codes = shown_codes.assign(share=(shown_codes["share"] * 100).round(1).astype(str) + "%")
    sections = [(heads[0], _table(tables["events_by_kind"])),
                (heads[1], _table(shown_codes, ["reply_code", "enhanced_code", "count", "share", "entry_id",
                                                "name"])),
                (heads[2], "\n".join("  " + line for line in fix_lines) or "  (none)")]
    sections += [(title, _table(tables[name])) for title, name in zip(titles[2:], list(tables)[2:])]
    if found_spikes is not None:
        sections.insert(6, (heads[9], "\n".join("  " + line for line in spike_lines)))
    sections.append((heads[7], "\n".join("  " + line for line in format_stats(stats).splitlines())))
    bold, plain = ("\x1b[1m", "\x1b[0m") if colour else ("", "")
    body = "\n\n".join(f"{bold}{title}{plain}\n{text}" for title, text in sections)
    hint = f"\n  {unrecognised_hint(unparsed)}" if unparsed else ""
    if approximate:
        hint += (f"\n  more than {TOP_CAPACITY} distinct keys in {', '.join(approximate)}: those counts are lower "
                 f"bounds (see README)")
    return f"{body}{hint}\n\n{share:.1%} {heads[8]}"


def unrecognised_hint(count: int) -> str:
    """Where a postmaster sees what the parsers did not know: they are lines of an MTA no pattern knows."""
    return (f"{count} unrecognised lines (an MTA's lines that no pattern knows): group them by shape with\n"
            f"  maillog check-patterns FILE --unmatched --shapes   (--unparsed FILE writes them out)")


SPIKE_FORMATS = ("text", "csv", "json")
BAR_WIDTH = 40


def _chart(windows: list, step, spikes_only_context: int = 3, limit: int = 60) -> list[str]:
    """A bar per window (spikes marked '!'); long series keep only the windows around spikes."""
    if not windows:
        return []
    if len(windows) > limit:
        keep = set()
        for index, window in enumerate(windows):
            if window.spike:
                keep.update(range(max(0, index - spikes_only_context), index + spikes_only_context + 1))
        shown = [w for i, w in enumerate(windows) if i in keep] or \
            sorted(windows, key=lambda w: -w.failures)[:10]
        shown.sort(key=lambda w: w.start)
    else:
        shown = windows
    peak = max(w.failures for w in shown) or 1
    lines = []
    previous = None
    for window in shown:
        if previous is not None and window.start - previous > step:  # a series may leave out empty windows
            lines.append("    ...")
        bar = "#" * max(1 if window.failures else 0, round(window.failures / peak * BAR_WIDTH))
        mark = "!" if window.spike else " "
        lines.append(f"  {mark} {window.start.isoformat(timespec='minutes')} {window.failures:>6} {bar}")
        previous = window.start
    return lines


def _duration(span) -> str:
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def format_spikes(report, format: str, ips_only: bool = False) -> str:
    """`maillog spikes` output: spikes then offenders (text, csv, json), or just offender addresses."""
    check_format(format, SPIKE_FORMATS)
    if ips_only:
        return "\n".join(dict.fromkeys(o.client_ip for o in report.offenders))
    if format == "json":
        return json_text({"spikes": [s.record() for s in report.spikes],
                          "offenders": [o.record() for o in report.offenders],
                          "failures": report.failures, "failures_without_time": report.failures_without_time},
                         indented=True)
    if format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(["record", "host", "start", "end", "failures", "baseline", "score", "distinct_ips",
                         "top_ips", "top_usernames", "shape", "client_ip", "max_in_window"])
        for spike in report.spikes:
            writer.writerow(["spike", neutralise_cell(spike.host), spike.start.isoformat(), spike.end.isoformat(),
                             spike.failures, round(spike.baseline, 2), round(spike.score, 2), spike.distinct_ips,
                             " ".join(f"{ip}:{n}" for ip, n in spike.top_ips),
                             neutralise_cell(" ".join(f"{u}:{n}" for u, n in spike.top_usernames)),
                             spike.shape, "", ""])
        for offender in report.offenders:
            writer.writerow(["offender", neutralise_cell(offender.host), offender.first_seen.isoformat(),
                             offender.last_seen.isoformat(), offender.failures, "", "", "", "", "", "",
                             offender.client_ip, offender.max_in_window])
        return buffer.getvalue()
    settings = report.settings
    lines = [f"Authentication failures: {report.failures}; window {_duration(settings.window)}, baseline "
             f"{_duration(settings.baseline)},"
             f" threshold {settings.threshold} MAD, min-count {settings.min_count}"]
    if report.failures_without_time:
        lines.append(f"({report.failures_without_time} more without a usable time, so in no window)")
    if not report.spikes:
        lines.append("No spikes found.")
    for spike in report.spikes:
        ips = ", ".join(f"{ip} ({n})" for ip, n in spike.top_ips) or "-"
        users = ", ".join(f"{sanitize(u)} ({n})" for u, n in spike.top_usernames) or "-"
        lines += [f"SPIKE {spike.shape} on {sanitize(spike.host)}: {spike.start.isoformat()} .. "
                  f"{spike.end.isoformat()}, {spike.failures} failures (baseline {spike.baseline:g} per window, "
                  f"score {spike.score:.1f}), {spike.distinct_ips} addresses",
                  f"  top addresses: {ips}", f"  top user names: {users}"]
    for host, windows in report.windows.items():
        lines += ["", f"Failures per window on {sanitize(host)} ('!' = spike):"] + _chart(windows, settings.window)
    lines += ["", f"Addresses with at least {settings.per_ip} failures within {_duration(settings.window)}:"]
    if not report.offenders:
        lines.append("  (none)")
    for offender in report.offenders:
        lines.append(f"  {offender.client_ip:<40} {offender.max_in_window:>5} in a window, {offender.failures:>6} in "
                     f"all, {offender.usernames} user names, {offender.first_seen.isoformat()} .. "
                     f"{offender.last_seen.isoformat()}")
    return "\n".join(lines)
