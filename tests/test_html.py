"""The HTML report in a real headless browser: it loads cleanly, the charts draw, the numbers match the CSV."""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analyzer.cli import app

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_LOGS = ROOT / "sample_logs"
BROWSER = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
                if shutil.which(name)), None)
needs_browser = pytest.mark.skipif(BROWSER is None, reason="no Chromium on this machine (apt-get install chromium; "
                                                           ".ci/run installs it)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]
runner = CliRunner()


def _browser(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([BROWSER, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
                           *extra, page.as_uri()], capture_output=True, text=True, timeout=120)


class _Collector(HTMLParser):
    """Bar totals by date, the daily totals table, and how many script elements there are."""

    def __init__(self):
        super().__init__()
        self.totals: dict[str, int] = {}
        self.scripts = 0
        self.tables: list[list[list[str]]] = []
        self._date = None
        self._cell = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "text" and attrs.get("class") == "total":
            self._date, self._text = attrs["data-date"], ""
        if tag == "table":
            self.tables.append([])
        if tag == "tr" and self.tables:
            self.tables[-1].append([])
        if tag in ("td", "th"):
            self._cell, self._text = True, ""

    def handle_endtag(self, tag):
        if tag == "text" and self._date:
            self.totals[self._date] = int(self._text)
            self._date = None
        if tag in ("td", "th") and self._cell:
            self.tables[-1][-1].append(self._text)
            self._cell = None

    def handle_data(self, data):
        self._text += data


def _summary_csv(tmp_path: Path) -> list[dict]:
    out = tmp_path / "summary.csv"
    result = runner.invoke(app, ["report", str(SAMPLE_LOGS), "--year", "2026", "--summary", "-o", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@needs_browser
def test_report_loads_draws_and_matches_the_csv(tmp_path):
    page = tmp_path / "report.html"
    result = runner.invoke(app, ["report", str(SAMPLE_LOGS), "--year", "2026", "--html", str(page)])
    assert result.exit_code == 0, result.output
    loaded = _browser(page, tmp_path / "profile", "--dump-dom")
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert "CONSOLE" not in loaded.stderr and "Uncaught" not in loaded.stderr  # no console messages at all
    dom = _Collector()
    dom.feed(loaded.stdout)
    rows = _summary_csv(tmp_path)
    kinds = ["delivered", "deferred", "bounced", "expired", "rejected", "reject_warning", "auth_failure",
             "protocol_error", "other"]
    per_day: dict[str, int] = defaultdict(int)
    for row in rows:
        per_day[row["date"]] += sum(int(row[k]) for k in kinds)
    assert dom.totals == dict(per_day)  # the bar labels the browser drew are the CSV's numbers
    table = next(t for t in dom.tables if t and t[0][:3] == ["date", "host", "mta"])
    assert [r[:12] for r in table[1:]] == [[row[c] for c in list(rows[0])[:12]] for row in rows]
    assert dom.scripts == 1  # only the inert JSON data block
    shot = tmp_path / "shot.png"
    drawn = _browser(page, tmp_path / "profile2", "--window-size=1200,1600", f"--screenshot={shot}")
    assert drawn.returncode == 0 and shot.exists(), drawn.stderr[-2000:]
    from PIL import Image
    image = Image.open(shot).convert("L")
    width, height = image.size
    chart = image.crop((0, int(height * 0.08), width, int(height * 0.3)))  # the daily chart's band
    histogram = chart.histogram()  # grey levels 0..255
    inked = sum(histogram[:200]) / sum(histogram)
    assert inked > 0.02, f"the daily chart looks blank ({inked:.1%} of its area drawn)"


def test_log_text_is_escaped(tmp_path):
    log = tmp_path / "mail.log"
    # A syslog host name and a recipient domain, both written by others, carrying markup.
    log.write_text("Nov 27 10:00:01 <script>alert(1)</script> exim[77]: 1tZy4k-000000005Xb-00A1 ** "
                   "u@<img/src=x/onerror=alert(2)> R=dnslookup T=remote_smtp: Unrouteable address\n", encoding="utf-8")
    page = tmp_path / "report.html"
    result = runner.invoke(app, ["report", str(log), "--year", "2026", "--html", str(page)])
    assert result.exit_code == 0, result.output
    text = page.read_text(encoding="utf-8")
    assert "<script>alert" not in text and "<img/src" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "&lt;img/src=x/onerror=alert(2)&gt;" in text
    assert text.count("<script") == 1 and '<script type="application/json"' in text
    data = text.split('<script type="application/json" id="maillog-data">', 1)[1].split("</script>", 1)[0]
    assert json.loads(data)["events"] == 1


@needs_browser
def test_japanese_report(tmp_path):
    page = tmp_path / "report.html"
    runner.invoke(app, ["report", str(SAMPLE_LOGS), "--year", "2026", "--lang", "ja", "--html", str(page)])
    loaded = _browser(page, tmp_path / "profile", "--dump-dom")
    assert "日別・種類別のイベント数" in loaded.stdout and "解決方法" in loaded.stdout
