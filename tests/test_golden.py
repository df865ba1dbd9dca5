"""The quick-start data end to end: the daily report of sample_logs/ equals the reviewed golden file.

Regenerate on purpose only (`python -m pytest tests/test_golden.py --update-golden`) and review the diff.
"""
from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from analyzer.cli import app

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "daily-report.csv"


def test_daily_report_of_the_sample_logs_matches_the_golden_file(update_golden, tmp_path):
    out = tmp_path / "daily.csv"
    result = CliRunner().invoke(app, ["report", str(ROOT / "sample_logs"), "--daily", "--tz", "UTC", "--year", "2026",
                                      "--lang", "en", "-o", str(out)])
    assert result.exit_code == 0, result.output
    if update_golden:
        GOLDEN.write_bytes(out.read_bytes())
    assert out.read_bytes() == GOLDEN.read_bytes()
