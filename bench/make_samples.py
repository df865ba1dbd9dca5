"""Rewrite sample_logs/ from the generator: the demo input of the README quick start.

Postfix is a logrotate set of three days (the oldest compressed) with a brute force on the middle day
and a slow distributed attack on the last; Exim and Sendmail cover the last two days. Same output on
every run: fixed seeds, and gzip headers without a timestamp.
"""
from __future__ import annotations

import gzip
import os
import tempfile
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from .generate import LINES_PER_SCENE, Attack, simulate

SAMPLES = Path(__file__).resolve().parent.parent / "sample_logs"
LAST_DAY = datetime(2026, 11, 27)
# A small server whose port 25 and 587 see more junk than mail: about one scene an hour, most of them
# failures, so that the attacks stand out from a visible baseline rather than from nothing.
POSTFIX_SCENES_PER_HOUR = 1.0
POSTFIX_WEIGHTS = {"pf_inbound": 14, "pf_outbound": 8, "pf_inbound_reject": 14, "pf_postscreen_drop": 12,
                   "pf_scanner": 12, "pf_auth_noise": 14, "pf_local": 4, "pf_expired": 1, "pf_anvil": 0}

POSTFIX_ATTACKS = (
    Attack("brute-force", LAST_DAY - timedelta(days=1) + timedelta(hours=14, minutes=7, seconds=12), minutes=15,
           attempts=162, source="203.0.113.45", usernames=("admin", "info@example.com", "office")),
    Attack("distributed", LAST_DAY + timedelta(hours=1, minutes=38), minutes=125, sources=66,
           usernames=("admin", "administrator", "test")),
)
EXIM_ATTACKS = (
    Attack("brute-force", LAST_DAY - timedelta(days=1) + timedelta(hours=22, minutes=41), minutes=8,
           attempts=40, source="203.0.113.77", usernames=("info", "admin")),
)


def write_atomically(path: Path, lines: Iterable[str], compress: bool = False) -> int:
    """Write whole or not at all; returns the line count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{line}\n" for line in lines)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "wb") as raw:
        if compress:
            with gzip.GzipFile(filename=path.name[:-3], mode="wb", fileobj=raw, mtime=0) as packed:
                packed.write(text.encode())
        else:
            raw.write(text.encode())
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)
    return text.count("\n")


def scenes_per_hour(mta: str, lines: int, days: int) -> float:
    return lines / LINES_PER_SCENE[mta] / (days * 24)


def make_postfix() -> dict[str, int]:
    start = LAST_DAY - timedelta(days=2)
    days: dict[int, list[str]] = {0: [], 1: [], 2: []}
    for t, line in simulate("postfix", 2611, start, scenes_per_hour=POSTFIX_SCENES_PER_HOUR,
                            end=LAST_DAY + timedelta(days=1), hosts=("mx1",), attacks=POSTFIX_ATTACKS,
                            scene_weights=POSTFIX_WEIGHTS):
        days[int(t // 86400)].append(line)
    folder = SAMPLES / "postfix"
    return {
        "postfix/mail.log.2.gz": write_atomically(folder / "mail.log.2.gz", days[0], compress=True),
        "postfix/mail.log.1": write_atomically(folder / "mail.log.1", days[1]),
        "postfix/mail.log": write_atomically(folder / "mail.log", days[2]),
    }


def make_two_days(mta: str, seed: int, lines: int, attacks: tuple[Attack, ...], path: str) -> dict[str, int]:
    start = LAST_DAY - timedelta(days=1)
    timed = simulate(mta, seed, start, scenes_per_hour=scenes_per_hour(mta, lines, 2),
                     end=LAST_DAY + timedelta(days=1), hosts=("mx1",), attacks=attacks)
    return {path: write_atomically(SAMPLES / path, (line for _, line in timed))}


def main() -> None:
    counts = make_postfix()
    counts |= make_two_days("exim", 2612, 330, EXIM_ATTACKS, "exim/mainlog")
    counts |= make_two_days("sendmail", 2613, 300, (), "sendmail/maillog")
    for path, count in counts.items():
        print(f"sample_logs/{path}: {count} lines")


if __name__ == "__main__":
    main()
