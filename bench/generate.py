"""Realistic synthetic mail logs for Postfix, Exim and Sendmail: the benchmark input and the demo logs.

A busy MX is simulated as a stream of scenes (one SMTP session, one delivery, one queue retry...) that
start at random times following a day/night curve. Each scene writes its lines into a small time-ordered
heap, so sessions interleave as on a real server while memory stays bounded by the few minutes a scene
spans. Every line shape is one the real daemons print; every address is a documentation address.

This module is the entry point: scripted and random attacks, simulate(), generate_lines() and the
command line. The world they play in is bench.world; each MTA's scenes are in bench.postfix_scenes,
bench.exim_scenes and bench.sendmail_scenes.
"""
from __future__ import annotations

import argparse
import gzip
import itertools
import random
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta

from .exim_scenes import EXIM_SCENES, ex_auth_session
from .postfix_scenes import POSTFIX_SCENES, pf_auth_session
from .sendmail_scenes import SENDMAIL_SCENES, sm_auth_session
from .world import ATTACK_USERNAMES, MONTHS, Attack, Host, Scene, World, schedule

MTAS = ("postfix", "exim", "sendmail")


# --- attacks ----------------------------------------------------------------------------------------
AuthSession = Callable[[World, Host, float, str, Sequence[str]], float]
AUTH_SESSIONS: dict[str, AuthSession] = {"postfix": pf_auth_session, "exim": ex_auth_session,
                                         "sendmail": sm_auth_session}
SCENES = {"postfix": POSTFIX_SCENES, "exim": EXIM_SCENES, "sendmail": SENDMAIL_SCENES}
# Average lines per background scene, measured; turns a line count into a scene rate.
LINES_PER_SCENE = {"postfix": 8.3, "exim": 2.93, "sendmail": 3.19}


def attack_scene(mta: str, attack: Attack) -> Scene:
    """The attack as a scene: it writes all of its sessions at once, spread over attack.minutes."""
    session = AUTH_SESSIONS[mta]

    def run(w: World, h: Host, t: float) -> None:
        rng, span = w.rng, attack.minutes * 60
        if attack.kind == "brute-force":
            per_session = (3, 9) if mta == "postfix" else (1, 5)
            sessions = max(1, round(attack.attempts / sum(per_session) * 2))
            remaining, gap = attack.attempts, span / sessions
            while remaining > 0:
                tries = min(remaining, rng.randrange(*per_session))
                names = [rng.choice(attack.usernames) for _ in range(tries)]
                finished = session(w, h, t, attack.source, names)
                remaining -= tries
                t = max(finished + rng.uniform(0.5, 3), t + gap * rng.uniform(0.6, 1.4))
        elif attack.kind == "distributed":
            octets = rng.sample(range(2, 255), min(attack.sources, 200))
            for index in range(attack.sources):
                if index < len(octets) and rng.random() < 0.65:
                    ip = f"198.51.100.{octets[index]}"
                else:
                    ip = f"2001:db8:bad:{rng.randrange(1, 0xffff):x}::{rng.randrange(2, 0xfff):x}"
                names = [attack.usernames[0] if rng.random() < 0.8 else rng.choice(attack.usernames[1:] or ("info",))
                         for _ in range(rng.choice((1, 1, 2, 2, 3)))]
                session(w, h, t + rng.uniform(0, span), ip, names)
        else:
            raise ValueError(f"unknown attack kind {attack.kind!r}")
    return run


def random_attacks(rng: random.Random, start: datetime, seconds: float) -> list[Attack]:
    """About one brute force per eight hours and one distributed wave per day of log."""
    attacks = []
    for index in range(max(1, round(seconds / 28800))):
        source = "203.0.113.45" if index == 0 else f"203.0.113.{rng.randrange(2, 255)}"
        attacks.append(Attack("brute-force", start + timedelta(seconds=rng.uniform(0, seconds)), rng.uniform(5, 30),
                              attempts=rng.randrange(60, 300), source=source,
                              usernames=tuple(rng.sample(ATTACK_USERNAMES, rng.randrange(1, 4)))))
    for _ in range(max(1, round(seconds / 86400))):
        attacks.append(Attack("distributed", start + timedelta(seconds=rng.uniform(0, seconds)), rng.uniform(60, 180),
                              sources=rng.randrange(40, 120), usernames=("admin", "info", "test")))
    return attacks


# --- output -----------------------------------------------------------------------------------------
def timestamp_formatter(mta: str, start: datetime) -> Callable[[float], str]:
    """RFC 3164 for syslog (day space-padded), Exim's own ISO-like stamp; cached per second."""
    cache = {"second": -1, "text": ""}

    def stamp(t: float) -> str:
        second = int(t)
        if second != cache["second"]:
            moment = start + timedelta(seconds=second)
            cache["second"] = second
            cache["text"] = f"{moment:%Y-%m-%d %H:%M:%S}" if mta == "exim" else \
                f"{MONTHS[moment.month - 1]} {moment.day:2d} {moment:%H:%M:%S}"
        return cache["text"]
    return stamp


def simulate(mta: str, seed: int, start: datetime, *, scenes_per_hour: float, end: datetime | None,
             hosts: Sequence[str], attacks: Sequence[Attack],
             scene_weights: dict[str, float] | None = None) -> Iterator[tuple[float, str]]:
    """(seconds since start, line) in time order; endless when `end` is None.

    `scene_weights` overrides the mix by scene function name, e.g. {"pf_auth_noise": 20}.
    """
    if mta not in SCENES:
        raise ValueError(f"unknown MTA {mta!r}: choose one of {', '.join(MTAS)}")
    if not hosts:
        raise ValueError("at least one host name is needed")
    world = World(seed, start, hosts)
    horizon = (end - start).total_seconds() if end else None
    if mta == "exim" and horizon and horizon > 86400:
        last_day = (end - timedelta(seconds=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        restart = (last_day - start).total_seconds() + world.rng.uniform(60, 240)
        world.exim_upgrade = restart
        world.log(restart, world.hosts[0], f"exim 4.98.2 daemon started: pid={world.hosts[0].new_pid()}, -q30m, "
                                           "listening for SMTP on port 25 (IPv6 and IPv4) port 587 (IPv6 and IPv4) "
                                           "port 465 (IPv6 and IPv4)")
    scripted = [((attack.at - start).total_seconds(), attack_scene(mta, attack)) for attack in attacks]
    stamp = timestamp_formatter(mta, start)
    scenes = [((scene_weights or {}).get(scene.__name__, weight), scene) for weight, scene in SCENES[mta]]
    for t, host, text in schedule(world, scenes, scenes_per_hour, horizon, scripted):
        yield t, (f"{stamp(t)} {text}" if mta == "exim" else f"{stamp(t)} {host.name} {text}")


def generate_lines(mta: str, lines: int, seed: int, start: datetime, days: float = 3.0,
                   hosts: tuple[str, ...] = ("mx1",), attacks: bool = True) -> Iterator[str]:
    """`lines` log lines of `mta` (no newline), in time order, spread over about `days` from `start`.

    Exim writes one log per server, so several `hosts` only vary its addresses; the syslog formats
    rotate the host name. Exim message ids switch to the 4.97+ shape on the last calendar day.
    """
    if lines < 0 or days <= 0:
        raise ValueError("lines must be >= 0 and days > 0")
    seconds = days * 86400
    rng = random.Random(f"attacks-{seed}")
    scripted = random_attacks(rng, start, seconds) if attacks else []
    scenes_per_hour = max(lines / LINES_PER_SCENE[mta] / (seconds / 3600), 0.01) if mta in SCENES else 1.0
    if mta == "exim":  # the upgrade day needs the window's end, which an endless run does not know
        timed = simulate_exim_window(seed, start, seconds, scenes_per_hour, hosts, scripted)
    else:
        timed = simulate(mta, seed, start, scenes_per_hour=scenes_per_hour, end=None, hosts=hosts, attacks=scripted)
    return (line for _, line in itertools.islice(timed, lines))


def simulate_exim_window(seed: int, start: datetime, seconds: float, scenes_per_hour: float,
                         hosts: Sequence[str], attacks: Sequence[Attack]) -> Iterator[tuple[float, str]]:
    """Exim over the window, then on past its end if more lines are asked for."""
    end = start + timedelta(seconds=seconds)
    yield from simulate("exim", seed, start, scenes_per_hour=scenes_per_hour, end=end, hosts=hosts, attacks=attacks)
    yield from simulate("exim", seed + 1, end, scenes_per_hour=scenes_per_hour, end=None, hosts=hosts, attacks=())


def write_lines(lines: Iterator[str], path: str | None) -> None:
    """To stdout, a file, or a gzip file (no timestamp in its header, so reruns are byte-identical)."""
    if path is None:
        sys.stdout.writelines(f"{line}\n" for line in lines)
        return
    if path.endswith(".gz"):
        with open(path, "wb") as raw, gzip.GzipFile(filename=path.rsplit("/", 1)[-1][:-3], mode="wb",
                                                     fileobj=raw, mtime=0) as packed:
            for chunk in batched_text(lines):
                packed.write(chunk.encode())
        return
    with open(path, "w", encoding="utf-8") as out:
        out.writelines(f"{line}\n" for line in lines)


def batched_text(lines: Iterator[str], size: int = 5000) -> Iterator[str]:
    while batch := list(itertools.islice(lines, size)):
        yield "\n".join(batch) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__.split("\n")[0])
    parser.add_argument("--mta", choices=MTAS, required=True)
    parser.add_argument("--lines", type=int, required=True, help="how many lines to write")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", type=datetime.fromisoformat, default=datetime(2026, 11, 20),
                        help="first timestamp, e.g. 2026-11-20 (default)")
    parser.add_argument("--days", type=float, default=3.0, help="about how many days the lines span")
    parser.add_argument("--hosts", default="mx1", help="comma-separated host names, e.g. mx1,mx2")
    parser.add_argument("--no-attacks", action="store_true", help="leave out brute-force and distributed attacks")
    parser.add_argument("-o", "--output", help="output file (.gz compresses); stdout when absent")
    args = parser.parse_args(argv)
    hosts = tuple(name for name in args.hosts.split(",") if name)
    try:
        lines = generate_lines(args.mta, args.lines, args.seed, args.start, args.days, hosts, not args.no_attacks)
        write_lines(lines, args.output)
    except ValueError as error:
        parser.error(str(error))
    except BrokenPipeError:  # `| head` closed the pipe
        sys.stderr.close()


if __name__ == "__main__":
    main()
