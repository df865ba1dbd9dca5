"""The HTML report: one self-contained page (inline SVG charts and styles, no scripts, no network).

Charts do not rely on colour alone: every series has its own hatch pattern or marker shape, a legend and
direct labels (bar totals, line-end names, 'spike' marks). Text from the log is escaped everywhere.
"""
from __future__ import annotations

import html
import json
from collections import defaultdict

from . import report
from .aggregate import NO_VALUE, Summary
from .catalogue import Catalogue

KIND_STYLE = {  # fill colour, pattern: each kind is told apart by its hatching too
    "delivered": ("#4c8c4a", "none"), "deferred": ("#d9a600", "diag"), "bounced": ("#c0392b", "cross"),
    "expired": ("#8e44ad", "dots"), "rejected": ("#d35400", "back"), "reject_warning": ("#e67e22", "vert"),
    "auth_failure": ("#2c3e50", "horiz"), "protocol_error": ("#7f8c8d", "grid"), "other": ("#95a5a6", "dots2"),
}
MARKERS = ("circle", "square", "triangle", "diamond", "cross")
WORDS = {
    "en": {"title": "maillog report", "daily": "Events per day, by kind", "codes": "Top reply codes over time",
           "auth": "Authentication failures per window", "spike": "spike", "table_codes": "Top reply codes",
           "code": "Code", "entry": "Catalogue entry", "count": "Count", "share": "Share", "meaning": "Meaning",
           "fix": "How to fix it", "clients": "Top rejected clients", "client": "Client", "reason": "Main reason",
           "domains": "Destinations that bounce or defer", "domain": "Domain", "bounced": "Bounced",
           "deferred": "Deferred", "spikes": "Spikes", "totals": "Daily totals", "date": "Date", "host": "Host",
           "none": "none", "start": "Start", "end": "End", "failures": "Failures", "shape": "Shape",
           "addresses": "Addresses", "top": "Top addresses", "lines": "Lines read", "events": "Events"},
    "ja": {"title": "maillog レポート", "daily": "日別・種類別のイベント数", "codes": "応答コード上位の推移",
           "auth": "時間枠ごとの認証失敗", "spike": "急増", "table_codes": "応答コード上位", "code": "コード",
           "entry": "カタログ項目", "count": "件数", "share": "割合", "meaning": "説明", "fix": "解決方法",
           "clients": "拒否回数の多いクライアント", "client": "クライアント", "reason": "主な理由",
           "domains": "バウンス・遅延の多い宛先", "domain": "ドメイン", "bounced": "バウンス", "deferred": "遅延",
           "spikes": "急増", "totals": "日別の合計", "date": "日付", "host": "ホスト", "none": "なし",
           "start": "開始", "end": "終了", "failures": "失敗", "shape": "形", "addresses": "アドレス数",
           "top": "上位アドレス", "lines": "読んだ行", "events": "イベント"},
}
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI","Hiragino Sans","Noto Sans CJK JP",sans-serif;margin:2em;
color:#222;max-width:1200px}h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.25em .5em;
text-align:left;vertical-align:top}td.n{text-align:right;font-variant-numeric:tabular-nums}svg{max-width:100%;
height:auto;border:1px solid #eee;background:#fff}.legend{font-size:12px}.fix{max-width:38em}
"""


def _e(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _patterns() -> str:
    shapes = {"none": "", "diag": '<path d="M0,8 L8,0" stroke="#fff" stroke-width="1.5"/>',
              "cross": '<path d="M0,0 L8,8 M0,8 L8,0" stroke="#fff" stroke-width="1.2"/>',
              "dots": '<circle cx="4" cy="4" r="1.6" fill="#fff"/>',
              "back": '<path d="M0,0 L8,8" stroke="#fff" stroke-width="1.5"/>',
              "vert": '<path d="M4,0 L4,8" stroke="#fff" stroke-width="1.5"/>',
              "horiz": '<path d="M0,4 L8,4" stroke="#fff" stroke-width="1.5"/>',
              "grid": '<path d="M4,0 L4,8 M0,4 L8,4" stroke="#fff" stroke-width="1"/>',
              "dots2": '<circle cx="2" cy="2" r="1.2" fill="#fff"/><circle cx="6" cy="6" r="1.2" fill="#fff"/>'}
    defs = []
    for kind, (colour, pattern) in KIND_STYLE.items():
        defs.append(f'<pattern id="p-{kind}" width="8" height="8" patternUnits="userSpaceOnUse">'
                    f'<rect width="8" height="8" fill="{colour}"/>{shapes[pattern]}</pattern>')
    defs.append('<pattern id="p-spike" width="6" height="6" patternUnits="userSpaceOnUse"><rect width="6" '
                'height="6" fill="#c0392b"/><path d="M0,6 L6,0" stroke="#fff" stroke-width="1.5"/></pattern>')
    return "<defs>" + "".join(defs) + "</defs>"


def daily_chart(days: dict[str, dict[str, int]], words: dict) -> str:
    """Stacked bars: one per day, a hatched segment per kind, the day's total written above."""
    width, height, left, bottom, top = 900, 360, 60, 60, 30
    dates = sorted(days)
    if not dates:
        return f"<p>{_e(words['none'])}</p>"
    peak = max(sum(days[d].values()) for d in dates) or 1
    slot = (width - left - 20) / len(dates)
    bar = min(60, slot * 0.7)
    scale = (height - bottom - top) / peak
    parts = [f'<svg role="img" aria-label="{_e(words["daily"])}" viewBox="0 0 {width} {height}" '
             f'xmlns="http://www.w3.org/2000/svg">{_patterns()}']
    for index, date in enumerate(dates):
        x = left + index * slot + (slot - bar) / 2
        y = height - bottom
        for kind in KIND_STYLE:
            count = days[date].get(kind, 0)
            if count:
                h = count * scale
                y -= h
                parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="url(#p-{kind})"'
                             f' stroke="#fff"><title>{_e(date)} {_e(kind)}: {count}</title></rect>')
        total = sum(days[date].values())
        parts.append(f'<text x="{x + bar / 2:.1f}" y="{y - 4:.1f}" font-size="12" text-anchor="middle" '
                     f'class="total" data-date="{_e(date)}">{total}</text>')
        parts.append(f'<text x="{x + bar / 2:.1f}" y="{height - bottom + 16}" font-size="12" '
                     f'text-anchor="middle">{_e(date)}</text>')
    legend_x = left
    for kind in KIND_STYLE:
        if any(days[d].get(kind) for d in dates):
            parts.append(f'<rect x="{legend_x}" y="{height - 26}" width="14" height="14" fill="url(#p-{kind})"/>'
                         f'<text class="legend" x="{legend_x + 18}" y="{height - 15}">{_e(kind)}</text>')
            legend_x += 24 + 7.5 * len(kind)
    parts.append(f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#333"/>')
    parts.append("</svg>")
    return "".join(parts)


def codes_chart(series: dict[str, dict[str, int]], dates: list[str], words: dict) -> str:
    """A line per top code across the days, each with its own marker shape and its name at the line end."""
    width, height, left, right, bottom, top = 900, 320, 60, 300, 40, 20
    if not series or not dates:
        return f"<p>{_e(words['none'])}</p>"
    peak = max(max(v.values(), default=0) for v in series.values()) or 1
    step = (width - left - right) / max(1, len(dates) - 1)
    scale = (height - bottom - top) / peak
    parts = [f'<svg role="img" aria-label="{_e(words["codes"])}" viewBox="0 0 {width} {height}" '
             f'xmlns="http://www.w3.org/2000/svg">']
    for index, date in enumerate(dates):
        parts.append(f'<text x="{left + index * step:.1f}" y="{height - bottom + 16}" font-size="12" '
                     f'text-anchor="middle">{_e(date)}</text>')
    label_ys = _spread([height - bottom - counts.get(dates[-1], 0) * scale for counts in series.values()], 15,
                       top, height - bottom)
    for number, (label, counts) in enumerate(series.items()):
        points = [(left + i * step, height - bottom - counts.get(d, 0) * scale) for i, d in enumerate(dates)]
        parts.append('<polyline fill="none" stroke="#333" stroke-width="1.5" stroke-dasharray="'
                     f'{["", "6 3", "2 3", "8 3 2 3", "1 1"][number % 5]}" points="'
                     + " ".join(f"{x:.1f},{y:.1f}" for x, y in points) + '"/>')
        for (x, y), date in zip(points, dates):
            parts.append(_marker(MARKERS[number % len(MARKERS)], x, y, f"{label} {date}: {counts.get(date, 0)}"))
        x, y = points[-1]
        label_y = label_ys[number]
        parts.append(f'<line x1="{x + 4:.1f}" y1="{y:.1f}" x2="{x + 12:.1f}" y2="{label_y:.1f}" stroke="#999"/>')
        parts.append(_marker(MARKERS[number % len(MARKERS)], x + 18, label_y, label))
        parts.append(f'<text x="{x + 26:.1f}" y="{label_y + 4:.1f}" font-size="12">{_e(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _spread(positions: list[float], gap: float, low: float, high: float) -> list[float]:
    """Label positions near the given ones, at least `gap` apart (line-end labels must not overlap)."""
    order = sorted(range(len(positions)), key=lambda i: positions[i])
    placed = [0.0] * len(positions)
    last = low - gap
    for index in order:
        last = max(positions[index], last + gap)
        placed[index] = last
    overflow = last - high
    if overflow > 0:
        placed = [p - overflow for p in placed]
    return placed


def _marker(shape: str, x: float, y: float, title: str) -> str:
    inner = f"<title>{_e(title)}</title>"
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#333">{inner}</circle>'
    if shape == "square":
        return f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="#333">{inner}</rect>'
    if shape == "triangle":
        return f'<path d="M{x:.1f},{y - 5:.1f} L{x + 5:.1f},{y + 4:.1f} L{x - 5:.1f},{y + 4:.1f} Z" fill="#333">{inner}</path>'
    if shape == "diamond":
        return f'<path d="M{x:.1f},{y - 5:.1f} L{x + 5:.1f},{y:.1f} L{x:.1f},{y + 5:.1f} L{x - 5:.1f},{y:.1f} Z" fill="#333">{inner}</path>'
    return f'<path d="M{x - 4:.1f},{y - 4:.1f} L{x + 4:.1f},{y + 4:.1f} M{x - 4:.1f},{y + 4:.1f} L{x + 4:.1f},{y - 4:.1f}" stroke="#333" stroke-width="2">{inner}</path>'


def auth_chart(windows: list, spikes: list, words: dict, step) -> str:
    """A bar per window; spike windows hatched red, each spike labelled with its failures."""
    width, height, left, bottom, top = 900, 260, 60, 40, 30
    if not windows:
        return f"<p>{_e(words['none'])}</p>"
    peak = max(w.failures for w in windows) or 1
    first = windows[0].start
    slot = (width - left - 20) / ((windows[-1].start - first) // step + 1)
    scale = (height - bottom - top) / peak
    parts = [f'<svg role="img" aria-label="{_e(words["auth"])}" viewBox="0 0 {width} {height}" '
             f'xmlns="http://www.w3.org/2000/svg">{_patterns()}']
    spike_starts = {spike.start: spike for spike in spikes}
    marks: list = []
    last_day = None
    for window in windows:
        x = left + (window.start - first) // step * slot  # a series may leave out empty windows
        h = window.failures * scale
        fill = "url(#p-spike)" if window.spike else "#2c3e50"
        if h:
            parts.append(f'<rect x="{x:.2f}" y="{height - bottom - h:.1f}" width="{max(slot * 0.9, 0.8):.2f}" '
                         f'height="{h:.1f}" fill="{fill}"><title>{_e(window.start.isoformat())}: '
                         f'{window.failures}</title></rect>')
        spike = spike_starts.get(window.start)
        if spike is not None:
            lift = 14 * (len(marks) % 3)  # neighbouring spikes' labels on different lines
            marks.append(window.start)
            parts.append(f'<text x="{x:.1f}" y="{height - bottom - h - 6 - lift:.1f}" font-size="12" '
                         f'fill="#c0392b" class="spike-mark">{_e(words["spike"])} {spike.failures}</text>')
        day = window.start.date().isoformat()
        if day != last_day:
            parts.append(f'<text x="{x:.1f}" y="{height - bottom + 16}" font-size="11">{_e(day)}</text>')
            last_day = day
    parts.append("</svg>")
    return "".join(parts)


def _table(headers: list[str], rows: list[list], numeric: set[int] = frozenset(), css: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f'<td class="{"n" if i in numeric else css}">{_e(v)}</td>'
                                    for i, v in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render(summary: Summary, found_spikes, catalogue: Catalogue, language: str, stats, top: int = 10) -> str:
    """The whole page."""
    words = WORDS[language]
    days: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    code_days: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (date, _host, _mta, kind, reply, enhanced, entry_id), row in summary.daily.items():
        days[date][kind] += row.count
        if reply != NO_VALUE or enhanced != NO_VALUE:
            code_days[reply, enhanced, entry_id][date] += row.count
    dates = sorted(days)
    codes = report.top_codes(summary, catalogue, language, top)
    failing = [c for c in codes.itertuples() if report.is_problem_code(c.reply_code, c.enhanced_code)]
    series = {}
    for row in (failing or list(codes.itertuples()))[:5]:
        series[f"{row.reply_code} {row.enhanced_code} {row.name}"[:40]] = code_days[row.reply_code,
                                                                                   row.enhanced_code, row.entry_id]
    busiest = sorted(found_spikes.windows.items(), key=lambda item: -sum(w.failures for w in item[1]))[:4]
    auth_charts = [f"<h3>{_e(words['host'])}: {_e(host)}</h3>"
                   + auth_chart(windows, [s for s in found_spikes.spikes if s.host == host], words,
                                found_spikes.settings.window)
                   for host, windows in busiest] or [f"<p>{_e(words['none'])}</p>"]
    code_rows = []
    for row in codes.itertuples():
        texts = report.entry_texts(catalogue, row.entry_id, language)
        code_rows.append([f"{row.reply_code} {row.enhanced_code}", row.name, row.count, f"{row.share:.1%}",
                          texts.meaning if texts else "", texts.fix if texts else ""])
    clients = report.top_rejected_clients(summary, top)
    domains = report.top_failing_domains(summary, top)
    data = {"daily_totals": {d: dict(days[d]) for d in dates}, "lines_read": stats.lines_read,
            "events": stats.events, "spikes": [s.record() for s in found_spikes.spikes]}
    sections = [
        f"<h1>{_e(words['title'])}</h1>",
        f"<p>{_e(words['lines'])}: {stats.lines_read:,} &middot; {_e(words['events'])}: {stats.events:,}</p>",
        f"<h2>{_e(words['daily'])}</h2>", daily_chart(days, words),
        f"<h2>{_e(words['codes'])}</h2>", codes_chart(series, dates, words),
        f"<h2>{_e(words['auth'])}</h2>", *auth_charts,
        f"<h2>{_e(words['spikes'])}</h2>",
        _table([words["host"], words["start"], words["end"], words["failures"], words["shape"], words["addresses"],
                words["top"]],
               [[s.host, s.start.isoformat(), s.end.isoformat(), s.failures, s.shape, s.distinct_ips,
                 ", ".join(f"{ip} ({n})" for ip, n in s.top_ips[:3])] for s in found_spikes.spikes], {3, 5}),
        f"<h2>{_e(words['table_codes'])}</h2>",
        _table([words["code"], words["entry"], words["count"], words["share"], words["meaning"], words["fix"]],
               code_rows, {2, 3}, "fix"),
        f"<h2>{_e(words['clients'])}</h2>",
        _table([words["client"], words["count"], words["reason"]], clients.values.tolist(), {1}),
        f"<h2>{_e(words['domains'])}</h2>",
        _table([words["domain"], words["bounced"], words["deferred"], "expired", words["reason"]],
               domains.values.tolist(), {1, 2, 3}),
        f"<h2>{_e(words['totals'])}</h2>",
        _table(report.SUMMARY_COLUMNS, report.daily_summary_rows(summary),
               set(range(3, 3 + len(report.KIND_ORDER))) | {report.SUMMARY_COLUMNS.index("top_problem_count")}),
    ]
    # Data for machines, in a block the browser never runs; "<" escaped so no log text can end the block.
    payload = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
    return (f'<!DOCTYPE html>\n<html lang="{language}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(words['title'])}</title><style>{STYLE}</style></head><body>"
            + "\n".join(sections)
            + f'<script type="application/json" id="maillog-data">{payload}</script></body></html>\n')
