"""Realistic synthetic mail logs for Postfix, Exim and Sendmail: the benchmark input and the demo logs.

A busy MX is simulated as a stream of scenes (one SMTP session, one delivery, one queue retry...) that
start at random times following a day/night curve. Each scene writes its lines into a small time-ordered
heap, so sessions interleave as on a real server while memory stays bounded by the few minutes a scene
spans. Every line shape is one the real daemons print; every address is a documentation address.
"""
from __future__ import annotations

import argparse
import calendar
import gzip
import heapq
import itertools
import random
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

MTAS = ("postfix", "exim", "sendmail")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Relative traffic by hour of day, scaled to a mean of 1.0: mail peaks in office hours, bots barely sleep.
_RAW_LOAD = (0.42, 0.36, 0.33, 0.33, 0.36, 0.45, 0.62, 0.9, 1.28, 1.48, 1.52, 1.48,
             1.32, 1.42, 1.48, 1.44, 1.34, 1.18, 1.0, 0.86, 0.74, 0.64, 0.55, 0.48)
HOURLY_LOAD = tuple(load * 24 / sum(_RAW_LOAD) for load in _RAW_LOAD)

FIRST_NAMES = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "ken",
               "laura", "mike", "nina", "oscar", "peggy", "quentin", "rita", "sam", "trent", "ursula",
               "victor", "wendy", "yuki", "hiro", "akiko", "sakura", "taro", "mei", "omar", "fatima",
               "lena", "jonas", "marta", "paolo", "ines", "raj", "priya", "chen", "olga")
LAST_NAMES = ("smith", "tanaka", "suzuki", "garcia", "mueller", "rossi", "kowalski", "nguyen", "sato",
              "dubois", "jensen", "silva", "ito", "kim", "novak", "weber", "moreau", "costa", "berg")
ROLE_NAMES = ("info", "sales", "support", "billing", "office", "hr", "noreply", "newsletter", "orders")
LOCAL_DOMAIN = "example.com"
REMOTE_DOMAINS = ("example.org", "example.net", "mail.example.org", "corp.example.net", "news.example.org",
                  "shop.example.net", "lists.example.org", "tokyo.example.net", "partner.example.org",
                  "university.example.edu.example.net", "bank.example.org", "travel.example.net")
SPAM_HELOS = ("User", "WIN-7KQ3L1M9TQ2", "localhost", "ylmf-pc", "[{ip}]", "mail.example.com", "{ip}",
              "EHLO", "desktop-4f2k1bd", "smtp.example.net", "ADMIN-PC")
SUBJECTS = ("Re: meeting notes", "Invoice 2026-1184", "Your order has shipped", "Weekly report",
            "Fwd: photos from Saturday", "Re: Re: contract draft", "Newsletter November 2026", "Quarterly figures",
            "Password reset request", "Re: lunch?", "Agenda for Monday", "Your receipt", "Re: quote request")
ATTACK_USERNAMES = ("admin", "info", "test", "office", "postmaster", "webmaster", "sales", "user",
                    "support", "contact", "root", "alice", "bob@example.com", "info@example.com")
TLS13 = "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 " \
        "server-signature RSA-PSS (2048 bits) server-digest SHA256"
TLS12 = "TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)"
TLS13_OUT = "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 " \
            "server-signature ECDSA (P-256) server-digest SHA256"

# Alphabets of the MTAs' own id encoders.
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"  # Dovecot's mail GUIDs
POSTFIX_LONG_ID = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz"  # base 52; 'z' also separates
SENDMAIL_ID = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwx"  # QueueIdChars, base 60


def encode(value: int, alphabet: str, width: int = 0) -> str:
    """value in the base of `alphabet`, left-padded with its zero digit to `width`."""
    base, digits = len(alphabet), []
    while value:
        value, digit = divmod(value, base)
        digits.append(alphabet[digit])
    return "".join(reversed(digits)).rjust(width, alphabet[0])


def format_delay(seconds: float) -> str:
    """Postfix's delay style: 0.41, 1.3, 36, and 0 for anything under 10 ms."""
    if seconds >= 10:
        return str(int(seconds))
    if seconds >= 1:
        return f"{seconds:.1f}".rstrip("0").rstrip(".")
    if seconds < 0.01:
        return "0"
    return f"{seconds:.2f}".rstrip("0").rstrip(".")


def format_hms(seconds: float) -> str:
    """Sendmail's delay style: 00:00:02, or 1+02:03:04 past a day."""
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}+{text}" if days else text


@dataclass(frozen=True)
class Attack:
    """A scripted attack for the demo logs.

    kind "brute-force": one `source` tries `attempts` logins on `usernames` over `minutes`.
    kind "distributed": `sources` addresses from the attack ranges try 1-3 logins each, mostly
    against usernames[0], spread over `minutes`.
    """
    kind: str
    at: datetime
    minutes: float
    attempts: int = 0
    sources: int = 0
    source: str = "203.0.113.45"
    usernames: tuple[str, ...] = ("admin",)


class Host:
    """One mail server: its names, addresses, and the pids of its long- and short-lived processes."""

    def __init__(self, name: str, index: int, rng: random.Random):
        self.name = name
        self.fqdn = f"{name}.{LOCAL_DOMAIN}"
        self.ipv4 = f"192.0.2.{10 + index}"
        self.long_queue_ids = index % 2 == 1  # enable_long_queue_ids on every second Postfix host
        self.rng = rng
        self.last_pid = rng.randrange(2000, 30000)
        self.inode_base = rng.randrange(0x100000, 0x900000)
        self.pools: dict[str, list[int]] = {}
        self.daemons = {name: self.new_pid() for name in ("qmgr", "pickup", "postscreen", "anvil", "tlsmgr")}

    def new_pid(self) -> int:
        self.last_pid += self.rng.randrange(1, 60)
        if self.last_pid > 4_190_000:
            self.last_pid = 1000 + self.rng.randrange(500)
        return self.last_pid

    def pid(self, service: str, live: int = 4) -> int:
        """A pid of one of the `live` processes of a service; now and then one is replaced (max_use)."""
        pool = self.pools.setdefault(service, [])
        if len(pool) < live:
            pool.append(self.new_pid())
            return pool[-1]
        slot = self.rng.randrange(live)
        if self.rng.random() < 0.02:
            pool[slot] = self.new_pid()
        return pool[slot]


class World:
    """The shared state of one simulation: random source, hosts, time-ordered output heap, pools."""

    def __init__(self, seed: int, start: datetime, hosts: Sequence[str]):
        self.rng = random.Random(seed)
        self.start = start
        self.start_epoch = calendar.timegm(start.timetuple())
        self.hosts = [Host(name, index, self.rng) for index, name in enumerate(hosts)]
        self.heap: list[tuple[float, int, Host, str]] = []
        self.counter = itertools.count()
        self.exim_upgrade: float | None = None  # from here on Exim 4.97+ writes 6-11-4 message ids
        self.local_users = [f"{first}.{last}" if i % 3 else first
                            for i, (first, last) in enumerate(itertools.product(FIRST_NAMES, LAST_NAMES[:4]))]

    def log(self, t: float, host: Host, text: str) -> None:
        heapq.heappush(self.heap, (t, next(self.counter), host, text))

    # --- people and machines -------------------------------------------------------------------------
    def local_address(self) -> str:
        return f"{self.rng.choice(self.local_users)}@{LOCAL_DOMAIN}"

    def local_addresses(self, count: int) -> list[str]:
        return [f"{user}@{LOCAL_DOMAIN}" for user in self.rng.sample(self.local_users, count)]

    def remote_address(self) -> str:
        rng = self.rng
        domain = rng.choice(REMOTE_DOMAINS)
        roll = rng.random()
        if roll < 0.25:
            return f"{rng.choice(ROLE_NAMES)}@{domain}"
        if roll < 0.3:
            return f"bounce-{rng.getrandbits(40):010x}@{domain}"
        return f"{rng.choice(FIRST_NAMES)}.{rng.choice(LAST_NAMES)}@{domain}"

    def spam_address(self) -> str:
        rng = self.rng
        return f"{encode(rng.getrandbits(30), BASE62[36:])}@{rng.choice(REMOTE_DOMAINS)}"

    def legit_client(self) -> tuple[str, str]:
        """(name, ip) of a well-behaved sending server with forward-confirmed reverse DNS."""
        rng = self.rng
        if rng.random() < 0.3:
            group = rng.randrange(1, 40)
            return f"mail-{group}.out.example.net", f"2001:db8:{0x100 + group:x}::{rng.randrange(1, 64):x}"
        last = rng.randrange(20, 200)
        return f"{rng.choice(('mail', 'smtp', 'mx-out', 'out'))}{last % 7}.{rng.choice(REMOTE_DOMAINS)}", \
            f"192.0.2.{last}"

    def hostile_ip(self) -> str:
        """A spam bot or scanner; kept off the scripted attackers' addresses."""
        rng = self.rng
        if rng.random() < 0.25:
            return f"2001:db8:c0de:{rng.randrange(1, 0xffff):x}::{rng.randrange(1, 0xfff):x}"
        last = rng.randrange(2, 255)
        return f"203.0.113.{last if last != 45 else 46}"

    def roaming_ip(self) -> str:
        rng = self.rng
        if rng.random() < 0.4:
            return f"2001:db8:{rng.randrange(0x2000, 0x2fff):x}:{rng.randrange(1, 0xffff):x}::{rng.randrange(2, 0xff):x}"
        return f"192.0.2.{rng.randrange(200, 255)}"

    def helo_for(self, ip: str) -> str:
        return self.rng.choice(SPAM_HELOS).format(ip=ip)

    def message_id(self, t: float, domain: str) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.3:
            return f"<CA+{encode(rng.getrandbits(190), BASE62)[:38]}@mail.{domain}>"
        if roll < 0.55:
            u = rng.getrandbits(128)
            return f"<{u >> 96:08x}-{u >> 80 & 0xffff:04x}-{u >> 64 & 0xffff:04x}-{u >> 48 & 0xffff:04x}-" \
                   f"{u & 0xffffffffffff:012x}@{domain}>"
        if roll < 0.75:
            return f"<{self.clock(t):%Y%m%d%H%M%S}.{rng.getrandbits(32):X}@{domain}>"
        return f"<{rng.getrandbits(64):016x}.{rng.randrange(1000, 99999)}@{domain}>"

    def clock(self, t: float) -> datetime:
        return self.start + timedelta(seconds=t)

    def epoch(self, t: float) -> float:
        return self.start_epoch + t

    def port(self) -> int:
        return self.rng.randrange(32768, 60999)


# --- outbound destinations --------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    """One possible answer of a remote server: dsn, status, reply text, SMTP stage it answered."""
    weight: float
    dsn: str
    status: str  # sent | deferred | bounced
    reply: str
    stage: str = "RCPT TO"


GMAIL_SENT = "250 2.0.0 OK  {epoch} {token} - gsmtp"
GMAIL_TOKEN = "{a}-{b}si{c}.{d}"
DESTINATIONS = {
    "gmail.com": (("gmail-smtp-in.l.google.com", "alt1.gmail-smtp-in.l.google.com"),
                  ("2001:db8:4860:4864:20::1b", "192.0.2.226"), "Trusted", (
        Outcome(90, "2.0.0", "sent", GMAIL_SENT, "end of DATA"),
        Outcome(3, "4.7.0", "deferred",
                "421-4.7.0 [{our_ip}      15] Our system has detected an unusual rate of 421-4.7.0 unsolicited "
                "mail originating from your IP address. To protect our 421-4.7.0 users from spam, mail sent "
                "from your IP address has been temporarily 421-4.7.0 rate limited. For more information, go to "
                "421-4.7.0  https://support.google.com/mail/?p=UnsolicitedRateLimitError to 421 4.7.0 review "
                "our Bulk Email Senders Guidelines. {token} - gsmtp", "end of DATA"),
        Outcome(3, "5.7.26", "bounced",
                "550-5.7.26 This mail has been blocked because the sender is unauthenticated. 550-5.7.26 Gmail "
                "requires all senders to authenticate with either SPF or DKIM. 550-5.7.26  550-5.7.26  "
                "Authentication results: 550-5.7.26  DKIM = did not pass 550-5.7.26  SPF [{sender_domain}] "
                "with ip: [{our_ip}] = did not pass 550-5.7.26  550-5.7.26  For instructions on setting up "
                "authentication, go to 550 5.7.26  https://support.google.com/mail/answer/81126#authentication "
                "{token} - gsmtp", "end of DATA"),
        Outcome(3, "5.1.1", "bounced",
                "550-5.1.1 The email account that you tried to reach does not exist. Please try 550-5.1.1 "
                "double-checking the recipient's email address for typos or 550-5.1.1 unnecessary spaces. "
                "For more information, go to 550 5.1.1  https://support.google.com/mail/?p=NoSuchUser {token} "
                "- gsmtp"),
        Outcome(1, "4.2.2", "deferred",
                "452-4.2.2 The recipient's inbox is out of storage space. Please direct the 452-4.2.2 recipient "
                "to 452 4.2.2  https://support.google.com/mail/?p=OverQuotaTemp {token} - gsmtp"))),
    "yahoo.com": (("mta7.am0.yahoodns.net", "mta5.am0.yahoodns.net", "mta6.am0.yahoodns.net"),
                  ("192.0.2.231", "192.0.2.232", "192.0.2.233"), "Trusted", (
        Outcome(88, "2.0.0", "sent", "250 ok dirdel", "end of DATA"),
        Outcome(8, "4.7.0", "deferred",
                "421 4.7.0 [TSS04] Messages from {our_ip} temporarily deferred due to unexpected volume or user "
                "complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes", "MAIL FROM"),
        Outcome(4, "5.0.0", "bounced",
                "554 delivery error: dd This user doesn't have a yahoo.com account ({recipient}) [0] - "
                "mta1{small}.mail.bf1.yahoo.com", "end of DATA"))),
    "outlook.com": (("outlook-com.olc.protection.outlook.com",), ("192.0.2.240", "192.0.2.241"), "Trusted", (
        Outcome(90, "2.6.0", "sent",
                "250 2.6.0 {message_id} [InternalId={internal}, Hostname={ms_host}] {size} bytes in 0.{small}, "
                "{rate}.{small} KB/sec Queued mail for delivery -> 250 2.1.5", "end of DATA"),
        Outcome(5, "4.7.500", "deferred",
                "451 4.7.500 Server busy. Please try again later from [{our_ip}]. (S77714) [{ms_host}]",
                "MAIL FROM"),
        Outcome(5, "5.7.1", "bounced",
                "550 5.7.1 Unfortunately, messages from [{our_ip}] weren't sent. Please contact your Internet "
                "service provider since part of their network is on our block list (S3150). You can also refer "
                "your provider to http://mail.live.com/mail/troubleshooting.aspx#errors. [{ms_host}]",
                "MAIL FROM"))),
    "example.org": (("example-org.mail.protection.outlook.com",), ("192.0.2.242", "192.0.2.243"), "Trusted", (
        Outcome(92, "2.6.0", "sent",
                "250 2.6.0 {message_id} [InternalId={internal}, Hostname={ms_host}] {size} bytes in 0.{small}, "
                "{rate}.{small} KB/sec Queued mail for delivery", "end of DATA"),
        Outcome(4, "5.7.708", "bounced",
                "550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP. For more "
                "information please go to http://go.microsoft.com/fwlink/?LinkId=526653 AS(7230) [{ms_host}]",
                "MAIL FROM"),
        Outcome(4, "5.4.1", "bounced",
                "550 5.4.1 Recipient address rejected: Access denied. For more information see "
                "https://aka.ms/EXOSmtpErrors [{ms_host}]"))),
    "*": (("mx.{domain}", "mx2.{domain}", "mail.{domain}"), ("192.0.2.{small_ip}",), "Untrusted", (
        Outcome(86, "2.0.0", "sent", "250 2.0.0 Ok: queued as {remote_qid}", "end of DATA"),
        Outcome(4, "4.2.0", "deferred",
                "450 4.2.0 {recipient_angle}: Recipient address rejected: Greylisted, see "
                "http://postgrey.schweikert.ch/help/{domain}.html"),
        Outcome(4, "5.1.1", "bounced",
                "550 5.1.1 {recipient_angle}: Recipient address rejected: User unknown in virtual mailbox table"),
        Outcome(2, "5.2.2", "bounced", "552 5.2.2 {recipient_angle}: Recipient address rejected: Mailbox full"),
        Outcome(4, "4.4.1", "deferred", "connect", "connect"))),
}
OUTBOUND_DOMAINS = ("gmail.com", "gmail.com", "gmail.com", "yahoo.com", "outlook.com", "example.org",
                    "example.net", "corp.example.net", "partner.example.org", "shop.example.net")
MS_HOSTS = ("AM4PEPF00025F97.EURPRD83.prod.outlook.com", "BN8NAM11FT066.eop-nam11.prod.protection.outlook.com",
            "DM6NAM12FT031.eop-nam12.prod.protection.outlook.com", "SN1PEPF0002636B.namprd02.prod.outlook.com")


@dataclass
class Delivery:
    """The answer one remote server gave for one recipient, with the line parts every MTA needs."""
    domain: str
    mx: str
    ip: str
    tls: str
    outcome: Outcome
    reply: str


def choose_delivery(world: World, t: float, recipient: str, sender: str, host: Host, size: int,
                    message_id: str) -> Delivery:
    rng = world.rng
    domain = recipient.split("@", 1)[1]
    mxs, ips, tls, outcomes = DESTINATIONS.get(domain, DESTINATIONS["*"])
    outcome = rng.choices(outcomes, weights=[o.weight for o in outcomes])[0]
    mx = rng.choice(mxs).format(domain=domain)
    ip = rng.choice(ips).format(small_ip=100 + sum(map(ord, domain)) % 100)
    token = GMAIL_TOKEN.format(a=f"{rng.getrandbits(52):x}", b=f"{rng.getrandbits(44):x}",
                               c=f"{rng.randrange(1000000, 9999999)}{encode(rng.getrandbits(10), BASE62[36:])}",
                               d=rng.randrange(100, 999))
    reply = outcome.reply.format(
        epoch=int(world.epoch(t)), token=token, our_ip=host.ipv4, sender_domain=sender.split("@")[-1],
        recipient=recipient, recipient_angle=f"<{recipient}>", domain=domain, small=rng.randrange(100, 999),
        message_id=message_id, internal=rng.randrange(10**12, 10**13), ms_host=rng.choice(MS_HOSTS),
        size=size, rate=rng.randrange(10, 9999), remote_qid=f"{rng.getrandbits(40):010X}")
    return Delivery(domain, mx, ip, tls, outcome, reply)


# --- scene scheduling ---------------------------------------------------------------------------------
Scene = Callable[[World, Host, float], None]


def schedule(world: World, scenes: Sequence[tuple[float, Scene]], scenes_per_hour: float,
             end: float | None, attacks: Sequence[tuple[float, Scene]] = ()) -> Iterator[tuple[float, Host, str]]:
    """Run scenes at random times (day/night curve) and yield their lines in time order."""
    rng, heap = world.rng, world.heap
    cumulative = list(itertools.accumulate(weight for weight, _ in scenes))
    functions = [scene for _, scene in scenes]
    pending = sorted(attacks, key=lambda item: item[0])
    host_cycle = itertools.cycle(world.hosts)
    start_hour = world.start.hour + world.start.minute / 60
    t = 0.0
    while end is None or t < end:
        load = HOURLY_LOAD[int(start_hour + t / 3600) % 24]
        t += rng.expovariate(scenes_per_hour * load / 3600)
        while pending and pending[0][0] <= t:
            at, attack = pending.pop(0)
            attack(world, world.hosts[0], at)
        if end is not None and t >= end:
            break
        while heap and heap[0][0] <= t:
            line_t, _, host, text = heapq.heappop(heap)
            yield line_t, host, text
        rng.choices(functions, cum_weights=cumulative)[0](world, next(host_cycle), t)
    while heap and (end is None or heap[0][0] < end):
        line_t, _, host, text = heapq.heappop(heap)
        yield line_t, host, text



# --- Postfix ----------------------------------------------------------------------------------------
def postfix_queue_id(world: World, host: Host, t: float) -> str:
    """Short ids are microseconds + inode in hex; long ids encode seconds, microseconds and inode."""
    usec = int(t % 1 * 1_000_000)
    inode = host.inode_base + world.rng.randrange(0x40000)
    if host.long_queue_ids:
        return (encode(int(world.epoch(t)), POSTFIX_LONG_ID, 6) + encode(usec, POSTFIX_LONG_ID, 4) + "z"
                + encode(inode, POSTFIX_LONG_ID[:51]))
    return f"{usec:05X}{inode:X}"


def postfix_delays(queued: float, manager: float, setup: float, transfer: float) -> str:
    total = queued + manager + setup + transfer
    return f"delay={format_delay(total)}, delays={format_delay(queued)}/{format_delay(manager)}/" \
           f"{format_delay(setup)}/{format_delay(transfer)}"


def postfix_counters(*commands: tuple[str, int, int]) -> str:
    """smtpd's disconnect summary: ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4."""
    parts, good, total = [], 0, 0
    for name, ok, tried in commands:
        parts.append(f"{name}={ok}" if ok == tried else f"{name}={ok}/{tried}")
        good, total = good + ok, total + tried
    parts.append(f"commands={good}" if good == total and total else f"commands={good}/{total}")
    return " ".join(parts)


def postfix_sasl_reason(host: Host, method: str) -> str:
    # Dovecot SASL on Postfix 3.7 gives no reason; Cyrus-style backends echo the last challenge.
    if host.long_queue_ids:
        return "UGFzc3dvcmQ6" if method == "LOGIN" else "authentication failure"
    return "(reason unavailable)"


def pf_postscreen_pass(w: World, h: Host, t: float, ip: str) -> float:
    port = w.port()
    pid = h.daemons["postscreen"]
    w.log(t, h, f"postfix/postscreen[{pid}]: CONNECT from [{ip}]:{port} to [{h.ipv4}]:25")
    if w.rng.random() < 0.88:
        t += 0.003
        w.log(t, h, f"postfix/postscreen[{pid}]: PASS OLD [{ip}]:{port}")
    else:
        t += 6.0 + w.rng.random() * 0.1
        w.log(t, h, f"postfix/postscreen[{pid}]: PASS NEW [{ip}]:{port}")
    return t + 0.01


def pf_deliver_local(w: World, h: Host, t: float, qid: str, recipient: str, arrived: float) -> tuple[float, bool]:
    """One lmtp delivery to Dovecot; returns (time, delivered)."""
    rng = w.rng
    pid = h.pid("lmtp", 3)
    t += rng.uniform(0.02, 0.25)
    delays = postfix_delays(t - arrived, rng.choice((0, 0.01, 0.01)), rng.choice((0, 0, 0.01)),
                            rng.uniform(0.01, 0.2))
    relay = f"relay={h.fqdn}[private/dovecot-lmtp]"
    if rng.random() < 0.01:
        w.log(t, h, f"postfix/lmtp[{pid}]: {qid}: to=<{recipient}>, {relay}, {delays}, dsn=5.2.2, status=bounced "
                    f"(host {h.fqdn}[private/dovecot-lmtp] said: 552 5.2.2 <{recipient}> Quota exceeded (mailbox "
                    f"for user is full) (in reply to end of DATA command))")
        return t, False
    guid = encode(rng.getrandbits(132), BASE64, 22)[:22]
    w.log(t, h, f"postfix/lmtp[{pid}]: {qid}: to=<{recipient}>, {relay}, {delays}, dsn=2.0.0, status=sent "
                f"(250 2.0.0 <{recipient}> {guid} Saved)")
    return t, True


def pf_inbound(w: World, h: Host, t: float, client: tuple[str, str] | None = None,
               sender: str | None = None, recipient: str | None = None) -> None:
    """A message from another server to local mailboxes, through postscreen, smtpd, cleanup, qmgr, lmtp."""
    rng = w.rng
    name, ip = client or w.legit_client()
    peer = f"{name}[{ip}]"
    t = pf_postscreen_pass(w, h, t, ip)
    smtpd = f"postfix/smtpd[{h.pid('smtpd', 6)}]"
    w.log(t, h, f"{smtpd}: connect from {peer}")
    tls = rng.random() < 0.85
    if tls:
        t += rng.uniform(0.05, 0.3)
        w.log(t, h, f"{smtpd}: Anonymous TLS connection established from {peer}: "
                    f"{TLS13 if rng.random() < 0.8 else TLS12}")
    t += rng.uniform(0.1, 1.5)
    qid = postfix_queue_id(w, h, t)
    arrived = t
    w.log(t, h, f"{smtpd}: {qid}: client={peer}")
    sender = sender or w.remote_address()
    recipients = [recipient] if recipient else w.local_addresses(rng.choice((1, 1, 1, 1, 2, 3)))
    bad_rcpt = 0
    if rng.random() < 0.05:
        bogus = f"{rng.choice(FIRST_NAMES)}{rng.randrange(2, 99)}@{LOCAL_DOMAIN}"
        t += 0.05
        w.log(t, h, f"{smtpd}: {qid}: reject: RCPT from {peer}: 550 5.1.1 <{bogus}>: Recipient address rejected: "
                    f"User unknown in virtual mailbox table; from=<{sender}> to=<{bogus}> proto=ESMTP helo=<{name}>")
        bad_rcpt = 1
    t += rng.uniform(0.05, 0.8)
    w.log(t, h, f"postfix/cleanup[{h.pid('cleanup', 3)}]: {qid}: message-id={w.message_id(t, sender.split('@')[1])}")
    size = int(rng.lognormvariate(9.2, 1.1)) + 900
    t += rng.uniform(0.005, 0.05)
    qmgr = f"postfix/qmgr[{h.daemons['qmgr']}]"
    w.log(t, h, f"{qmgr}: {qid}: from=<{sender}>, size={size}, nrcpt={len(recipients)} (queue active)")
    commands = [("ehlo", 2, 2), ("starttls", 1, 1)] if tls else [("ehlo", 1, 1)]
    commands += [("mail", 1, 1), ("rcpt", len(recipients), len(recipients) + bad_rcpt), ("data", 1, 1), ("quit", 1, 1)]
    w.log(t + 0.02, h, f"{smtpd}: disconnect from {peer} {postfix_counters(*commands)}")
    bounced = False
    for each in recipients:
        t, delivered = pf_deliver_local(w, h, t, qid, each, arrived)
        bounced |= not delivered
    if bounced:
        pf_notify(w, h, t, qid, sender)
    else:
        w.log(t + 0.001, h, f"{qmgr}: {qid}: removed")


def pf_notify(w: World, h: Host, t: float, qid: str, sender: str, reason: str = "non-delivery") -> None:
    """bounce(8) queues a notification to the sender and the original message is removed."""
    rng = w.rng
    t += 0.01
    notice = postfix_queue_id(w, h, t)
    qmgr = f"postfix/qmgr[{h.daemons['qmgr']}]"
    w.log(t, h, f"postfix/cleanup[{h.pid('cleanup', 3)}]: {notice}: message-id=<{w.clock(t):%Y%m%d%H%M%S}."
                f"{notice}@{h.fqdn}>")
    w.log(t + 0.001, h, f"{qmgr}: {notice}: from=<>, size={rng.randrange(2200, 7800)}, nrcpt=1 (queue active)")
    w.log(t + 0.002, h, f"postfix/bounce[{h.pid('bounce', 2)}]: {qid}: sender {reason} notification: {notice}")
    w.log(t + 0.003, h, f"{qmgr}: {qid}: removed")
    if sender.endswith("@" + LOCAL_DOMAIN):
        t, _ = pf_deliver_local(w, h, t, notice, sender, t)
    else:
        t = pf_smtp_attempt(w, h, t + 0.1, notice, sender, "", 3000, t, force_sent=True)
    w.log(t + 0.001, h, f"{qmgr}: {notice}: removed")


def pf_smtp_attempt(w: World, h: Host, t: float, qid: str, recipient: str, sender: str, size: int,
                    arrived: float, force_sent: bool = False, attempt: int = 0) -> float:
    """One smtp(8) delivery attempt; schedules the retry of a deferral. Returns the time of the status line."""
    rng = w.rng
    delivery = choose_delivery(w, t, recipient, sender or f"MAILER-DAEMON@{h.fqdn}", h, size,
                               w.message_id(t, LOCAL_DOMAIN))
    if force_sent or attempt >= 3:
        while delivery.outcome.status != "sent":
            delivery = choose_delivery(w, t, recipient, sender, h, size, "<x@example.com>")
    outcome, peer = delivery.outcome, f"{delivery.mx}[{delivery.ip}]:25"
    smtp = f"postfix/smtp[{h.pid('smtp', 5)}]"
    setup = rng.uniform(0.05, 0.6)
    if outcome.stage == "connect":
        t += 30.0
        failure = f"connect to {delivery.mx}[{delivery.ip}]:25: Connection timed out"
        w.log(t, h, f"{smtp}: {failure}")
        w.log(t + 0.001, h, f"{smtp}: {qid}: to=<{recipient}>, relay=none, "
                            f"{postfix_delays(t - 30 - arrived, 0.01, 30, 0)}, dsn=4.4.1, status=deferred ({failure})")
    else:
        w.log(t + setup, h, f"{smtp}: {delivery.tls} TLS connection established to {peer}: {TLS13_OUT}")
        transfer = rng.uniform(0.1, 1.8)
        t += setup + transfer
        text = delivery.reply if outcome.status == "sent" else \
            f"host {delivery.mx}[{delivery.ip}] said: {delivery.reply} (in reply to {outcome.stage} command)"
        w.log(t, h, f"{smtp}: {qid}: to=<{recipient}>, relay={peer}, "
                    f"{postfix_delays(max(t - setup - transfer - arrived, 0), 0.01, setup, transfer)}, "
                    f"dsn={outcome.dsn}, status={outcome.status} ({text})")
    if outcome.status == "deferred":
        # qmgr retries after minimal_backoff_time, doubling each time.
        retry = t + 300 * 2 ** attempt * rng.uniform(1.0, 1.6)
        qmgr = f"postfix/qmgr[{h.daemons['qmgr']}]"
        w.log(retry, h, f"{qmgr}: {qid}: from=<{sender}>, size={size}, nrcpt=1 (queue active)")
        done = pf_smtp_attempt(w, h, retry + 0.01, qid, recipient, sender, size, arrived, attempt=attempt + 1)
        if done:
            w.log(done + 0.001, h, f"{qmgr}: {qid}: removed")
        return 0.0
    if outcome.status == "bounced" and sender:
        pf_notify(w, h, t, qid, sender)
        return 0.0
    return t


def pf_outbound(w: World, h: Host, t: float) -> None:
    """A local user submits on port 587; smtp(8) delivers to a provider or another organisation."""
    rng = w.rng
    ip = w.roaming_ip()
    peer = f"unknown[{ip}]"
    smtpd = f"postfix/submission/smtpd[{h.pid('submission', 3)}]"
    user = w.local_address()
    w.log(t, h, f"{smtpd}: connect from {peer}")
    t += rng.uniform(0.05, 0.3)
    w.log(t, h, f"{smtpd}: Anonymous TLS connection established from {peer}: {TLS13}")
    t += rng.uniform(0.2, 1.2)
    qid = postfix_queue_id(w, h, t)
    method = rng.choice(("PLAIN", "PLAIN", "LOGIN"))
    w.log(t, h, f"{smtpd}: {qid}: client={peer}, sasl_method={method}, sasl_username={user}")
    arrived = t
    recipients = []
    for _ in range(rng.choice((1, 1, 1, 2))):
        domain = rng.choice(OUTBOUND_DOMAINS)
        recipients.append(f"{rng.choice(FIRST_NAMES)}.{rng.choice(LAST_NAMES)}{rng.randrange(1, 99)}@{domain}"
                          if domain in DESTINATIONS else w.remote_address())
    t += rng.uniform(0.1, 1.0)
    w.log(t, h, f"postfix/cleanup[{h.pid('cleanup', 3)}]: {qid}: message-id={w.message_id(t, LOCAL_DOMAIN)}")
    size = int(rng.lognormvariate(9.0, 1.2)) + 700
    qmgr = f"postfix/qmgr[{h.daemons['qmgr']}]"
    w.log(t + 0.01, h, f"{qmgr}: {qid}: from=<{user}>, size={size}, nrcpt={len(recipients)} (queue active)")
    n = len(recipients)
    w.log(t + 0.03, h, f"{smtpd}: disconnect from {peer} " + postfix_counters(
        ("ehlo", 2, 2), ("starttls", 1, 1), ("auth", 1, 1), ("mail", 1, 1), ("rcpt", n, n), ("data", 1, 1),
        ("quit", 1, 1)))
    # The other recipients are delivered first, so that a bounce or retry of the first one ends the story.
    finished = t
    for recipient in recipients[1:]:
        finished = max(finished, pf_smtp_attempt(w, h, t + 0.02, qid, recipient, user, size, arrived,
                                                 force_sent=True))
    done = pf_smtp_attempt(w, h, finished + 0.02, qid, recipients[0], user, size, arrived)
    if done:
        w.log(done + 0.001, h, f"{qmgr}: {qid}: removed")


PF_REJECTS = (  # (weight, client kind, reply template, recipients: local | remote | unknown)
    (3, "hostile", "554 5.7.1 <{rcpt}>: Relay access denied", "remote"),
    (4, "hostile", "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table", "unknown"),
    (2, "legit", "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table", "unknown"),
    (2, "hostile", "450 4.7.1 Client host rejected: cannot find your hostname, [{ip}]", "local"),
    (4, "hostile", "554 5.7.1 Service unavailable; Client host [{ip}] blocked using zen.spamhaus.org; "
                   "https://www.spamhaus.org/query/ip/{ip}", "local"),
    (2, "hostile", "504 5.5.2 <{helo}>: Helo command rejected: need fully-qualified hostname", "local"),
    (1, "hostile", "450 4.1.8 <{sender}>: Sender address rejected: Domain not found", "local"),
    (3, "legit", "450 4.2.0 <{rcpt}>: Recipient address rejected: Greylisted, see "
                 "http://postgrey.schweikert.ch/help/{domain}.html", "local"),
)


def pf_inbound_reject(w: World, h: Host, t: float) -> None:
    """smtpd refuses a recipient (NOQUEUE: reject) and the client goes away or retries later."""
    rng = w.rng
    _, kind, template, target = rng.choices(PF_REJECTS, weights=[r[0] for r in PF_REJECTS])[0]
    if kind == "legit":
        name, ip = w.legit_client()
        helo, sender = name, w.remote_address()
    else:
        ip = w.hostile_ip()
        name, helo, sender = "unknown", w.helo_for(ip), w.spam_address()
        if "need fully-qualified" in template:
            helo = rng.choice(("User", "localhost", "ylmf-pc", "ADMIN-PC", "WIN-7KQ3L1M9TQ2"))
        elif "Domain not found" in template:
            sender = f"{rng.choice(ROLE_NAMES)}@{rng.choice(FIRST_NAMES)}{rng.randrange(10, 99)}.example.invalid"
    peer = f"{name}[{ip}]"
    t = pf_postscreen_pass(w, h, t, ip)
    smtpd = f"postfix/smtpd[{h.pid('smtpd', 6)}]"
    if name == "unknown" and rng.random() < 0.3:
        w.log(t, h, f"{smtpd}: warning: hostname {ip.replace('.', '-').replace(':', '-')}.dyn.example.net does "
                    f"not resolve to address {ip}: Name or service not known")
    w.log(t, h, f"{smtpd}: connect from {peer}")
    tries = rng.randrange(2, 7) if target == "unknown" and kind == "hostile" else 1
    for _ in range(tries):
        t += rng.uniform(0.2, 2.0)
        if target == "remote":
            rcpt = w.remote_address()
        elif target == "unknown":
            rcpt = f"{rng.choice(FIRST_NAMES + ROLE_NAMES)}{rng.choice(('', '1', '.old', '2024'))}@{LOCAL_DOMAIN}"
        else:
            rcpt = w.local_address()
        reply = template.format(rcpt=rcpt, ip=ip, helo=helo, sender=sender, domain=LOCAL_DOMAIN)
        w.log(t, h, f"{smtpd}: NOQUEUE: reject: RCPT from {peer}: {reply}; from=<{sender}> to=<{rcpt}> "
                    f"proto=ESMTP helo=<{helo}>")
    t += rng.uniform(0.1, 1.0)
    if tries >= 4:
        w.log(t, h, f"{smtpd}: too many errors after RCPT from {peer}")
        counters = postfix_counters(("ehlo", 1, 1), ("mail", 1, 1), ("rcpt", 0, tries))
    elif rng.random() < 0.7:
        counters = postfix_counters(("ehlo", 1, 1), ("mail", 1, 1), ("rcpt", 0, tries), ("quit", 1, 1))
    else:
        w.log(t, h, f"{smtpd}: lost connection after RCPT from {peer}")
        counters = postfix_counters(("ehlo", 1, 1), ("mail", 1, 1), ("rcpt", 0, tries))
    w.log(t + 0.001, h, f"{smtpd}: disconnect from {peer} {counters}")
    if "Greylisted" in template:
        again = t + rng.uniform(300, 1500)
        pf_inbound(w, h, again, (name, ip), sender, rcpt)


def pf_postscreen_drop(w: World, h: Host, t: float) -> None:
    """Bots that postscreen stops before smtpd: pregreeting, hanging up, DNSBL listed."""
    rng = w.rng
    ip, port = w.hostile_ip(), w.port()
    pid = h.daemons["postscreen"]
    where = f"[{ip}]:{port}"
    w.log(t, h, f"postfix/postscreen[{pid}]: CONNECT from {where} to [{h.ipv4}]:25")
    roll = rng.random()
    if roll < 0.4:
        listed = rng.choice(("2", "3", "4", "10", "11"))
        w.log(t + 0.05, h, f"postfix/dnsblog[{h.pid('dnsblog', 3)}]: addr {ip} listed by domain zen.spamhaus.org "
                           f"as 127.0.0.{listed}")
    if roll < 0.55:
        helo = w.helo_for(ip)
        t += rng.uniform(0.1, 1.5)
        w.log(t, h, f"postfix/postscreen[{pid}]: PREGREET {len(helo) + 7} after {format_delay(rng.uniform(0, 1.5))} from {where}: "
                    f"EHLO {helo}\\r\\n")
    if roll < 0.4:
        t += 0.01
        w.log(t, h, f"postfix/postscreen[{pid}]: DNSBL rank {rng.choice((3, 4, 6))} for {where}")
        if rng.random() < 0.6:
            t += rng.uniform(1, 6)
            w.log(t, h, f"postfix/postscreen[{pid}]: NOQUEUE: reject: RCPT from {where}: 550 5.7.1 Service "
                        f"unavailable; client [{ip}] blocked using zen.spamhaus.org; from=<{w.spam_address()}>, "
                        f"to=<{w.local_address()}>, proto=ESMTP, helo=<{w.helo_for(ip)}>")
    elif roll > 0.55:
        t += rng.uniform(0.3, 5.5)
        stage = "before" if rng.random() < 0.8 else "after"
        w.log(t, h, f"postfix/postscreen[{pid}]: HANGUP after {format_delay(rng.uniform(0.3, 9))} from {where} in tests {stage} SMTP handshake")
    w.log(t + 0.001, h, f"postfix/postscreen[{pid}]: DISCONNECT {where}")


def pf_scanner(w: World, h: Host, t: float) -> None:
    """Probes that connect and leave: lost connection, timeouts, HTTP on port 25, early talkers."""
    rng = w.rng
    ip = w.hostile_ip()
    peer = f"unknown[{ip}]"
    if rng.random() < 0.5:
        smtpd = f"postfix/submission/smtpd[{h.pid('submission', 3)}]"
    else:
        t = pf_postscreen_pass(w, h, t, ip)
        smtpd = f"postfix/smtpd[{h.pid('smtpd', 6)}]"
    w.log(t, h, f"{smtpd}: connect from {peer}")
    roll = rng.random()
    t += rng.uniform(0.1, 3)
    if roll < 0.35:
        w.log(t, h, f"{smtpd}: lost connection after CONNECT from {peer}")
        counters = "commands=0/0"
    elif roll < 0.6:
        w.log(t, h, f"{smtpd}: lost connection after EHLO from {peer}")
        counters = postfix_counters(("ehlo", 1, 1))
    elif roll < 0.72:
        w.log(t, h, f"{smtpd}: SSL_accept error from {peer}: lost connection")
        w.log(t, h, f"{smtpd}: lost connection after STARTTLS from {peer}")
        counters = postfix_counters(("ehlo", 1, 1), ("starttls", 1, 1))
    elif roll < 0.82:
        w.log(t, h, f"{smtpd}: warning: non-SMTP command from {peer}: GET / HTTP/1.1")
        counters = postfix_counters(("unknown", 0, 1))
    elif roll < 0.9:
        w.log(t, h, f"{smtpd}: improper command pipelining after CONNECT from {peer}: EHLO {w.helo_for(ip)}\\r\\n")
        counters = postfix_counters(("ehlo", 1, 1), ("quit", 1, 1))
    else:
        t += 300
        w.log(t, h, f"{smtpd}: timeout after EHLO from {peer}")
        counters = postfix_counters(("ehlo", 1, 1))
    w.log(t + 0.001, h, f"{smtpd}: disconnect from {peer} {counters}")


def pf_auth_session(w: World, h: Host, t: float, ip: str, usernames: Sequence[str]) -> float:
    """One connection of a password-guessing bot: each name is one failed AUTH."""
    rng = w.rng
    peer = f"unknown[{ip}]"
    service = "submission" if rng.random() < 0.75 else "smtps"
    smtpd = f"postfix/{service}/smtpd[{h.pid(service, 3)}]"
    w.log(t, h, f"{smtpd}: connect from {peer}")
    method = "LOGIN" if rng.random() < 0.8 else "PLAIN"
    for name in usernames:
        t += rng.uniform(1.5, 6.0)
        w.log(t, h, f"{smtpd}: warning: {peer}: SASL {method} authentication failed: "
                    f"{postfix_sasl_reason(h, method)}, sasl_username={name}")
    n = len(usernames)
    t += rng.uniform(0.01, 0.5)
    if rng.random() < 0.65:
        w.log(t, h, f"{smtpd}: lost connection after AUTH from {peer}")
        counters = postfix_counters(("ehlo", 1, 1), ("auth", 0, n))
    else:
        counters = postfix_counters(("ehlo", 1, 1), ("auth", 0, n), ("quit", 1, 1))
    w.log(t + 0.001, h, f"{smtpd}: disconnect from {peer} {counters}")
    return t


def pf_auth_noise(w: World, h: Host, t: float) -> None:
    names = [w.rng.choice(ATTACK_USERNAMES) for _ in range(w.rng.choice((1, 1, 1, 2)))]
    pf_auth_session(w, h, t, w.hostile_ip(), names)


def pf_local(w: World, h: Host, t: float) -> None:
    """Cron and system mail: pickup(8) to local(8)."""
    rng = w.rng
    qid = postfix_queue_id(w, h, t)
    qmgr = f"postfix/qmgr[{h.daemons['qmgr']}]"
    w.log(t, h, f"postfix/pickup[{h.daemons['pickup']}]: {qid}: uid=0 from=<root>")
    t += 0.01
    w.log(t, h, f"postfix/cleanup[{h.pid('cleanup', 3)}]: {qid}: message-id=<{w.clock(t):%Y%m%d%H%M%S}.{qid}@{h.fqdn}>")
    w.log(t + 0.005, h, f"{qmgr}: {qid}: from=<root@{h.fqdn}>, size={rng.randrange(500, 4000)}, nrcpt=1 (queue active)")
    t += rng.uniform(0.01, 0.1)
    w.log(t, h, f"postfix/local[{h.pid('local', 1)}]: {qid}: to=<root@{h.fqdn}>, orig_to=<root>, relay=local, "
                f"{postfix_delays(0.02, 0.01, 0, t % 0.05)}, dsn=2.0.0, status=sent (delivered to mailbox)")
    w.log(t + 0.001, h, f"{qmgr}: {qid}: removed")


def pf_expired(w: World, h: Host, t: float) -> None:
    """A message queued five days ago meets maximal_queue_lifetime and goes back to its sender."""
    rng = w.rng
    age = 432000 + rng.uniform(0, 3000)
    qid = postfix_queue_id(w, h, t - age)
    sender, recipient = w.local_address(), f"{rng.choice(ROLE_NAMES)}@{rng.choice(REMOTE_DOMAINS)}"
    mx, ip = f"mx.{recipient.split('@')[1]}", f"192.0.2.{rng.randrange(100, 200)}"
    qmgr = f"postfix/qmgr[{h.daemons['qmgr']}]"
    w.log(t, h, f"{qmgr}: {qid}: from=<{sender}>, size={rng.randrange(1500, 90000)}, nrcpt=1 (queue active)")
    smtp = f"postfix/smtp[{h.pid('smtp', 5)}]"
    t += 30
    failure = f"connect to {mx}[{ip}]:25: Connection timed out"
    w.log(t, h, f"{smtp}: {failure}")
    w.log(t + 0.001, h, f"{smtp}: {qid}: to=<{recipient}>, relay=none, {postfix_delays(age, 0.02, 30, 0)}, "
                        f"dsn=4.4.1, status=deferred ({failure})")
    w.log(t + 0.002, h, f"{qmgr}: {qid}: from=<{sender}>, status=expired, returned to sender")
    pf_notify(w, h, t + 0.003, qid, sender)


def pf_anvil(w: World, h: Host, t: float) -> None:
    rng = w.rng
    anvil = f"postfix/anvil[{h.daemons['anvil']}]"
    seen = w.clock(t - rng.uniform(60, 3000))
    at = f"{MONTHS[seen.month - 1]} {seen.day:2d} {seen:%H:%M:%S}"
    ip = w.hostile_ip()
    w.log(t, h, f"{anvil}: statistics: max connection rate {rng.randrange(2, 30)}/60s for (smtp:{ip}) at {at}")
    w.log(t, h, f"{anvil}: statistics: max connection count {rng.randrange(1, 5)} for (smtp:{ip}) at {at}")
    w.log(t, h, f"{anvil}: statistics: max cache size {rng.randrange(3, 60)} at {at}")
    h.daemons["anvil"] = h.new_pid()


POSTFIX_SCENES: tuple[tuple[float, Scene], ...] = (
    (34, pf_inbound), (17, pf_outbound), (9, pf_inbound_reject), (8, pf_postscreen_drop), (8, pf_scanner),
    (3, pf_auth_noise), (3, pf_local), (0.4, pf_expired), (0.4, pf_anvil))


# --- Exim -------------------------------------------------------------------------------------------
EXIM_TLS_IN = "X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no"
EXIM_DEFER_ERRNO = {"RCPT TO": "-44", "MAIL FROM": "-45", "end of DATA": "-46"}


def exim_id(w: World, h: Host, t: float) -> str:
    """Seconds, pid and sub-second fraction in base 62: 6-6-2 up to Exim 4.96, 6-11-4 since 4.97."""
    seconds, pid, fraction = encode(int(w.epoch(t)), BASE62, 6), h.new_pid(), t % 1
    if w.exim_upgrade is not None and t >= w.exim_upgrade:
        return f"{seconds}-{encode(pid, BASE62, 11)}-{encode(int(fraction * 1_000_000), BASE62, 4)}"
    return f"{seconds}-{encode(pid, BASE62, 6)}-{encode(int(fraction * 2000), BASE62, 2)}"


def exim_tls_out(delivery: Delivery) -> str:
    return f"X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV={'yes' if delivery.tls == 'Trusted' else 'no'}"


def exim_reply(reply: str) -> str:
    """Exim keeps the lines of a multi-line reply, escaped as \\n, where Postfix joins them with spaces."""
    code = reply[:3]
    return reply.replace(f" {code}-", f"\\n{code}-").replace(f" {code} ", f"\\n{code} ") if reply[3:4] == "-" \
        else reply


def exim_local_delivery(w: World, h: Host, t: float, mid: str, recipients: Sequence[str]) -> float:
    rng = w.rng
    t += rng.uniform(0.05, 0.4)
    for index, recipient in enumerate(recipients):
        guid = encode(rng.getrandbits(132), BASE64, 22)[:22]
        arrow = "=>" if index == 0 else "->"
        w.log(t, h, f"{mid} {arrow} {recipient.split('@')[0]} <{recipient}> R=local_user T=dovecot_lmtp "
                    f"C=\"250 2.0.0 <{recipient}> {guid} Saved\"")
    return t


def ex_inbound(w: World, h: Host, t: float, client: tuple[str, str] | None = None,
               sender: str | None = None, recipient: str | None = None) -> None:
    rng = w.rng
    name, ip = client or w.legit_client()
    sender = sender or w.remote_address()
    t += rng.uniform(0.3, 2.0)
    mid = exim_id(w, h, t)
    tls = rng.random() < 0.85
    protocol = f"P=esmtps {EXIM_TLS_IN}" if tls else "P=esmtp"
    size = int(rng.lognormvariate(9.2, 1.1)) + 900
    w.log(t, h, f"{mid} <= {sender} H={name} [{ip}] {protocol} S={size} "
                f"id={w.message_id(t, sender.split('@')[1])[1:-1]} T=\"{rng.choice(SUBJECTS)}\"")
    recipients = [recipient] if recipient else w.local_addresses(rng.choice((1, 1, 1, 2)))
    if rng.random() < 0.01:
        t += 0.2
        w.log(t, h, f"{mid} ** {recipients[0]} R=local_user T=dovecot_lmtp: LMTP error after end of data: "
                    f"552 5.2.2 <{recipients[0]}> Quota exceeded (mailbox for user is full)")
        ex_bounce(w, h, t, mid, sender)
        return
    t = exim_local_delivery(w, h, t, mid, recipients)
    w.log(t + 0.001, h, f"{mid} Completed")


def ex_bounce(w: World, h: Host, t: float, original: str, sender: str) -> None:
    """Exim writes the bounce message as a new local arrival from <>, then delivers it."""
    rng = w.rng
    t += 0.02
    notice = exim_id(w, h, t)
    w.log(t, h, f"{notice} <= <> R={original} U=Debian-exim P=local S={rng.randrange(2200, 7800)} "
                f"T=\"Mail delivery failed: returning message to sender\"")
    w.log(t + 0.001, h, f"{original} Completed")
    if sender.endswith("@" + LOCAL_DOMAIN):
        t = exim_local_delivery(w, h, t, notice, [sender])
    else:
        t = ex_remote_attempt(w, h, t, notice, sender, "", 3000, force_sent=True)
    w.log(t + 0.001, h, f"{notice} Completed")


def ex_remote_attempt(w: World, h: Host, t: float, mid: str, recipient: str, sender: str, size: int,
                      force_sent: bool = False, attempt: int = 0) -> float:
    """One remote_smtp delivery; returns the time it finished, or 0 when a retry or bounce takes over."""
    rng = w.rng
    delivery = choose_delivery(w, t, recipient, sender or f"MAILER-DAEMON@{h.fqdn}", h, size,
                               w.message_id(t, LOCAL_DOMAIN))
    while (force_sent or attempt >= 3) and delivery.outcome.status != "sent":
        delivery = choose_delivery(w, t, recipient, sender, h, size, "<x@example.com>")
    outcome = delivery.outcome
    host_part = f"H={delivery.mx} [{delivery.ip}]"
    t += rng.uniform(0.3, 2.5)
    if outcome.stage == "connect":
        t += 30
        w.log(t, h, f"{mid} {host_part} Connection timed out")
        w.log(t + 0.001, h, f"{mid} == {recipient} R=dnslookup T=remote_smtp defer (110): Connection timed out")
    elif outcome.status == "sent":
        chunking = " K" if "gsmtp" in delivery.reply else ""
        w.log(t, h, f"{mid} => {recipient} R=dnslookup T=remote_smtp {host_part} {exim_tls_out(delivery)}{chunking} "
                    f"C=\"{delivery.reply}\"")
        return t
    else:
        stage = {"RCPT TO": f"RCPT TO:<{recipient}>", "MAIL FROM": f"MAIL FROM:<{sender}> SIZE={size}",
                 "end of DATA": "end of data"}[outcome.stage]
        if outcome.stage != "end of DATA" and rng.random() < 0.5:
            stage = "pipelined " + stage
        error = f"SMTP error from remote mail server after {stage}: {exim_reply(delivery.reply)}"
        if outcome.status == "bounced":
            w.log(t, h, f"{mid} ** {recipient} R=dnslookup T=remote_smtp {host_part} {exim_tls_out(delivery)}: {error}")
            if sender:
                ex_bounce(w, h, t, mid, sender)
                return 0.0
            return t
        w.log(t, h, f"{mid} == {recipient} R=dnslookup T=remote_smtp defer ({EXIM_DEFER_ERRNO[outcome.stage]}) "
                    f"{host_part} {exim_tls_out(delivery)}: {error}")
    # The next queue run (-q30m) picks the message up again.
    retry = t + 1800 * (attempt + 1) * rng.uniform(0.9, 1.1)
    runner = h.new_pid()
    w.log(retry, h, f"Start queue run: pid={runner}")
    done = ex_remote_attempt(w, h, retry + 0.1, mid, recipient, sender, size, attempt=attempt + 1)
    if done:
        w.log(done + 0.001, h, f"{mid} Completed")
    w.log(max(done, retry) + 0.5, h, f"End queue run: pid={runner}")
    return 0.0


def ex_outbound(w: World, h: Host, t: float) -> None:
    rng = w.rng
    user, ip = w.local_address(), w.roaming_ip()
    t += rng.uniform(0.5, 2.0)
    mid = exim_id(w, h, t)
    size = int(rng.lognormvariate(9.0, 1.2)) + 700
    method = rng.choice(("dovecot_plain", "dovecot_plain", "dovecot_login"))
    w.log(t, h, f"{mid} <= {user} H=({rng.choice(('[192.168.1.20]', 'laptop', 'DESKTOP-3K1Q9P', 'iPhone'))}) "
                f"[{ip}] P=esmtpsa {EXIM_TLS_IN} A={method}:{user} S={size} id={w.message_id(t, LOCAL_DOMAIN)[1:-1]} "
                f"T=\"{rng.choice(SUBJECTS)}\"")
    domain = rng.choice(OUTBOUND_DOMAINS)
    recipient = f"{rng.choice(FIRST_NAMES)}.{rng.choice(LAST_NAMES)}{rng.randrange(1, 99)}@{domain}"
    done = ex_remote_attempt(w, h, t, mid, recipient, user, size)
    if done:
        w.log(done + 0.001, h, f"{mid} Completed")


def exim_client(w: World, ip: str, name: str = "") -> str:
    helo = w.helo_for(ip)
    return f"H={name} [{ip}]" if name else f"H=({helo}) [{ip}]"


def ex_reject(w: World, h: Host, t: float) -> None:
    """acl_smtp_rcpt refusals, as Debian's default configuration words them."""
    rng = w.rng
    roll = rng.random()
    if roll < 0.25:  # greylisting a real server that comes back later
        name, ip = w.legit_client()
        sender, rcpt = w.remote_address(), w.local_address()
        w.log(t, h, f"H={name} [{ip}] F=<{sender}> temporarily rejected RCPT <{rcpt}>: greylisted.")
        ex_inbound(w, h, t + rng.uniform(300, 1500), (name, ip), sender, rcpt)
        return
    ip = w.hostile_ip()
    client, sender = exim_client(w, ip), w.spam_address()
    if rng.random() < 0.5:  # host_lookup = * and no PTR record
        w.log(t, h, f"no host name found for IP address {ip}")
    if roll < 0.45:
        rcpt, reason = w.remote_address(), "relay not permitted"
    elif roll < 0.65:
        rcpt = f"{rng.choice(FIRST_NAMES + ROLE_NAMES)}{rng.choice(('', '1', '.old'))}@{LOCAL_DOMAIN}"
        reason = "Unknown user"
    elif roll < 0.85:
        rcpt = w.local_address()
        reason = f"rejected because {ip} is in a black list at zen.spamhaus.org\\n" \
                 f"https://www.spamhaus.org/query/ip/{ip}"
    else:
        sender = f"{rng.choice(ROLE_NAMES)}@{rng.choice(FIRST_NAMES)}{rng.randrange(10, 99)}.example.invalid"
        rcpt, reason = w.local_address(), "Sender verify failed"
        w.log(t, h, f"{client} sender verify fail for <{sender}>: Unrouteable address")
    w.log(t + 0.01, h, f"{client} F=<{sender}> rejected RCPT <{rcpt}>: {reason}")
    if rng.random() < 0.3:
        w.log(t + rng.uniform(0.1, 2), h, f"unexpected disconnection while reading SMTP command from "
                                          f"{client[2:]} D={rng.randrange(1, 9)}s")


def ex_auth_session(w: World, h: Host, t: float, ip: str, usernames: Sequence[str]) -> float:
    rng = w.rng
    helo = rng.choice(("User", "[203.0.113.1]", "ADMIN-PC", "localhost"))
    method = "dovecot_login" if rng.random() < 0.8 else "dovecot_plain"
    start = t
    for name in usernames:
        t += rng.uniform(1.5, 6.0)
        w.log(t, h, f"{method} authenticator failed for ({helo}) [{ip}]: 535 Incorrect authentication data "
                    f"(set_id={name})")
    commands = ",".join(["EHLO"] + ["AUTH"] * len(usernames))
    t += rng.uniform(0.05, 1)
    if rng.random() < 0.5:
        w.log(t, h, f"no MAIL in SMTP connection from ({helo}) [{ip}] D={int(t - start) + 1}s C={commands},QUIT")
    else:
        w.log(t, h, f"SMTP connection from ({helo}) [{ip}] lost D={int(t - start) + 1}s")
    return t


def ex_auth_noise(w: World, h: Host, t: float) -> None:
    ex_auth_session(w, h, t, w.hostile_ip(), [w.rng.choice(ATTACK_USERNAMES)])


def ex_scanner(w: World, h: Host, t: float) -> None:
    rng = w.rng
    ip = w.hostile_ip()
    roll = rng.random()
    if roll < 0.3:
        w.log(t, h, f"SMTP protocol synchronization error (input sent without waiting for greeting): rejected "
                    f"connection from H=[{ip}] input=\"GET / HTTP/1.1\\r\\nHost: {h.ipv4}\\r\\n\"")
    elif roll < 0.45:
        helo = w.helo_for(ip)
        w.log(t, h, f"SMTP protocol synchronization error (next input sent too soon: pipelining was not "
                    f"advertised): rejected \"EHLO {helo}\" H=({helo}) [{ip}] next input=\"MAIL FROM:<"
                    f"{w.spam_address()}>\\r\\n\"")
    elif roll < 0.55:
        w.log(t, h, f"no MAIL in SMTP connection from [{ip}] D={rng.randrange(0, 20)}s C=EHLO,QUIT")
    elif roll < 0.7:
        w.log(t, h, f"SMTP syntax error in \"GET / HTTP/1.1\" H=[{ip}] unrecognized command")
        w.log(t + 0.01, h, f"SMTP syntax error in \"Host: {h.ipv4}\" H=[{ip}] unrecognized command")
        w.log(t + 0.02, h, f"SMTP connection from [{ip}] lost D=0s")
    elif roll < 0.85:
        w.log(t, h, f"TLS error on connection from ({w.helo_for(ip)}) [{ip}] (SSL_accept): "
                    f"error:0A000126:SSL routines::unexpected eof while reading")
    else:
        w.log(t + 300, h, f"SMTP command timeout on connection from [{ip}]")


def ex_local(w: World, h: Host, t: float) -> None:
    mid = exim_id(w, h, t)
    w.log(t, h, f"{mid} <= root@{h.fqdn} U=root P=local S={w.rng.randrange(500, 4000)} "
                f"T=\"Cron <root@{h.name}> /usr/local/sbin/backup-mail\"")
    t += w.rng.uniform(0.02, 0.2)
    w.log(t, h, f"{mid} => admin <root@{h.fqdn}> R=local_user T=mail_spool")
    w.log(t + 0.001, h, f"{mid} Completed")


def ex_expired(w: World, h: Host, t: float) -> None:
    """A message deferred for days passes its retry rule's limit and is bounced."""
    rng = w.rng
    mid = exim_id(w, h, t - 345600 - rng.uniform(0, 40000))
    recipient = f"{rng.choice(ROLE_NAMES)}@{rng.choice(REMOTE_DOMAINS)}"
    w.log(t, h, f"{mid} ** {recipient}: retry timeout exceeded")
    ex_bounce(w, h, t, mid, w.local_address())


EXIM_SCENES: tuple[tuple[float, Scene], ...] = (
    (36, ex_inbound), (18, ex_outbound), (12, ex_reject), (7, ex_scanner), (4, ex_auth_noise), (3, ex_local),
    (0.4, ex_expired))


# --- Sendmail -----------------------------------------------------------------------------------------
def sendmail_queue_id(w: World, h: Host, t: float, pid: int) -> str:
    """assign_queueid(): UTC year, month, day, hour, minute, second, a 2-char sequence, then the pid."""
    moment = w.clock(t)  # the simulated servers keep their clocks on UTC
    chars = SENDMAIL_ID
    seq = w.rng.randrange(3600)
    return (chars[(moment.year - 1900) % 60] + chars[moment.month - 1] + chars[moment.day] + chars[moment.hour]
            + chars[moment.minute] + chars[moment.second] + chars[seq // 60] + chars[seq % 60] + f"{pid:06d}")


def sendmail_relay(name: str, ip: str) -> str:
    return f"{name} [{ip}]" if name else f"[{ip}]"


def sm_local_delivery(w: World, h: Host, t: float, qid: str, recipient: str, size: int, arrived: float) -> float:
    pid = h.new_pid()
    t += w.rng.uniform(0.1, 1.2)
    w.log(t, h, f"sm-mta[{pid}]: {qid}: to=<{recipient}>, delay={format_hms(t - arrived)}, xdelay=00:00:00, "
                f"mailer=local, pri={size + 30000}, dsn=2.0.0, stat=Sent")
    return t


def sm_inbound(w: World, h: Host, t: float) -> None:
    rng = w.rng
    name, ip = w.legit_client()
    pid = h.new_pid()
    relay = sendmail_relay(name, ip)
    tls = rng.random() < 0.8
    if tls:
        w.log(t, h, f"sm-mta[{pid}]: STARTTLS=server, relay={relay}, version=TLSv1.3, verify=NO, "
                    f"cipher=TLS_AES_256_GCM_SHA384, bits=256/256")
    t += rng.uniform(0.3, 2.0)
    qid = sendmail_queue_id(w, h, t, pid)
    sender = w.remote_address()
    recipients = w.local_addresses(rng.choice((1, 1, 1, 2)))
    size = int(rng.lognormvariate(9.2, 1.1)) + 900
    w.log(t, h, f"sm-mta[{pid}]: {qid}: from=<{sender}>, size={size}, class=0, nrcpts={len(recipients)}, "
                f"msgid={w.message_id(t, sender.split('@')[1])}, bodytype=8BITMIME, "
                f"proto={'ESMTPS' if tls else 'ESMTP'}, daemon=MTA, relay={relay}")
    arrived = t
    for recipient in recipients:
        t = sm_local_delivery(w, h, t, qid, recipient, size, arrived)


def sm_outbound(w: World, h: Host, t: float) -> None:
    rng = w.rng
    ip, user = w.roaming_ip(), w.local_address()
    pid = h.new_pid()
    relay = f"[{ip}]"
    w.log(t, h, f"sm-mta[{pid}]: STARTTLS=server, relay={relay}, version=TLSv1.3, verify=NO, "
                f"cipher=TLS_AES_256_GCM_SHA384, bits=256/256")
    t += rng.uniform(0.2, 1.0)
    w.log(t, h, f"sm-mta[{pid}]: AUTH=server, relay={relay}, authid={user}, mech=PLAIN, bits=0")
    t += rng.uniform(0.2, 1.0)
    qid = sendmail_queue_id(w, h, t, pid)
    size = int(rng.lognormvariate(9.0, 1.2)) + 700
    domain = rng.choice(OUTBOUND_DOMAINS)
    recipient = f"{rng.choice(FIRST_NAMES)}.{rng.choice(LAST_NAMES)}{rng.randrange(1, 99)}@{domain}"
    w.log(t, h, f"sm-mta[{pid}]: {qid}: from=<{user}>, size={size}, class=0, nrcpts=1, "
                f"msgid={w.message_id(t, LOCAL_DOMAIN)}, bodytype=8BITMIME, proto=ESMTPSA, daemon=MSA, relay={relay}")
    sm_remote_attempt(w, h, t, qid, recipient, user, size, t)


def sm_remote_attempt(w: World, h: Host, t: float, qid: str, recipient: str, sender: str, size: int,
                      arrived: float, attempt: int = 0) -> None:
    rng = w.rng
    delivery = choose_delivery(w, t, recipient, sender, h, size, w.message_id(t, LOCAL_DOMAIN))
    while attempt >= 3 and delivery.outcome.status != "sent":
        delivery = choose_delivery(w, t, recipient, sender, h, size, "<x@example.com>")
    outcome = delivery.outcome
    pid = h.new_pid()
    program = f"sm-mta[{pid}]"
    mx = delivery.mx + "."
    transfer = rng.uniform(0.3, 2.5)
    t += transfer
    priority = size + 30000 + 90000 * attempt
    head = f"{program}: {qid}: to=<{recipient}>, delay={format_hms(t - arrived)}, " \
           f"xdelay={format_hms(min(transfer, t - arrived))}, " \
           f"mailer=esmtp, pri={priority}, "
    if outcome.stage == "connect":
        t += 30
        w.log(t, h, f"{head}relay={mx}, dsn=4.0.0, stat=Deferred: Connection timed out with {mx}")
    else:
        w.log(t - 0.2, h, f"{program}: STARTTLS=client, relay={mx}, version=TLSv1.3, verify=OK, "
                          f"cipher=TLS_AES_256_GCM_SHA384, bits=256/256")
        # Sendmail keeps only the last line of a multi-line reply.
        last = delivery.reply
        for cut in (f" {last[:3]} ", ):
            if last[3:4] == "-" and cut in last:
                last = last[last.rindex(cut) + 1:]
        prefix = f"{head}relay={mx} [{delivery.ip}], dsn={outcome.dsn}, stat="
        if outcome.status == "sent":
            text = last.split(" ", 2)[2] if last[4:5].isdigit() else last[4:]
            w.log(t, h, f"{prefix}Sent ({text})")
            return
        if outcome.status == "deferred":
            w.log(t, h, f"{prefix}Deferred: {last}")
        else:
            stat = "User unknown" if outcome.stage == "RCPT TO" and last.startswith("550") else "Service unavailable"
            w.log(t, h, f"{prefix}{stat}")
            notice = sendmail_queue_id(w, h, t, pid)
            w.log(t + 0.01, h, f"{program}: {notice}: DSN: {stat}")
            sm_local_delivery(w, h, t, notice, sender, rng.randrange(2200, 7800), t)
            return
    retry = t + 900 * (attempt + 1) * rng.uniform(1.0, 1.4)  # the -q15m queue runner
    sm_remote_attempt(w, h, retry, qid, recipient, sender, size, arrived, attempt + 1)


def sm_reject(w: World, h: Host, t: float) -> None:
    rng = w.rng
    ip = w.hostile_ip()
    pid = h.new_pid()
    relay = rng.choice((f"[{ip}]", f"[{ip}]", f"{ip.replace('.', '-').replace(':', '-')}.dyn.example.net [{ip}] "
                                              f"(may be forged)"))
    qid = sendmail_queue_id(w, h, t, pid)
    sender = w.spam_address()
    program = f"sm-mta[{pid}]"
    roll = rng.random()
    rcpts = 1
    if roll < 0.3:
        rcpt = w.remote_address()
        denial = "Relaying denied. IP name lookup failed" + f" [{ip}]" if relay.startswith("[") else "Relaying denied"
        w.log(t, h, f"{program}: {qid}: ruleset=check_rcpt, arg1=<{rcpt}>, relay={relay}, "
                    f"reject=550 5.7.1 <{rcpt}>... {denial}")
    elif roll < 0.55:
        rcpts = rng.randrange(1, 4)
        for _ in range(rcpts):
            t += rng.uniform(0.2, 1.5)
            w.log(t, h, f"{program}: {qid}: <{rng.choice(FIRST_NAMES + ROLE_NAMES)}{rng.randrange(1, 99)}@"
                        f"{LOCAL_DOMAIN}>... User unknown")
    elif roll < 0.8:
        rcpt = w.local_address()
        w.log(t, h, f"{program}: {qid}: ruleset=check_rcpt, arg1=<{rcpt}>, relay={relay}, "
                    f"reject=550 5.7.1 Rejected: {ip} listed at zen.spamhaus.org")
    elif roll < 0.9:
        sender = f"{rng.choice(ROLE_NAMES)}@{rng.choice(FIRST_NAMES)}{rng.randrange(10, 99)}.example.invalid"
        w.log(t, h, f"{program}: {qid}: ruleset=check_mail, arg1=<{sender}>, relay={relay}, reject=553 5.1.8 "
                    f"<{sender}>... Domain of sender address {sender} does not exist")
        w.log(t + rng.uniform(0.2, 2), h, f"{program}: {qid}: lost input channel from {relay} to MTA after mail")
        return
    else:
        rcpt = w.local_address()
        w.log(t, h, f"{program}: {qid}: Milter: to=<{rcpt}>, reject=451 4.7.1 Greylisting in action, please come "
                    f"back in 00:05:00")
    t += rng.uniform(0.2, 2)
    if rng.random() < 0.3:
        w.log(t, h, f"{program}: {qid}: lost input channel from {relay} to MTA after rcpt")
    w.log(t + 0.01, h, f"{program}: {qid}: from=<{sender}>, size=0, class=0, nrcpts=0, proto=ESMTP, daemon=MTA, "
                       f"relay={relay}")


def sm_auth_session(w: World, h: Host, t: float, ip: str, usernames: Sequence[str]) -> float:
    rng = w.rng
    pid = h.new_pid()
    qid = sendmail_queue_id(w, h, t, pid)
    program = f"sm-mta[{pid}]"
    method = "LOGIN" if rng.random() < 0.8 else "PLAIN"
    for name in usernames:
        t += rng.uniform(1.5, 6.0)
        w.log(t, h, f"{program}: {qid}: AUTH failure ({method}): authentication failure (-13) SASL(-13): "
                    f"authentication failure: checkpass failed, user={name}, relay=[{ip}]")
    if len(usernames) >= 6:
        w.log(t + 0.01, h, f"{program}: {qid}: [{ip}]: possible SMTP attack: command=AUTH, count={len(usernames)}")
    t += rng.uniform(0.1, 2)
    if rng.random() < 0.5:
        w.log(t, h, f"{program}: {qid}: [{ip}] did not issue MAIL/EXPN/VRFY/ETRN during connection to MTA")
    else:
        w.log(t, h, f"{program}: {qid}: lost input channel from [{ip}] to MTA after auth")
    return t


def sm_auth_noise(w: World, h: Host, t: float) -> None:
    sm_auth_session(w, h, t, w.hostile_ip(), [w.rng.choice(ATTACK_USERNAMES)])


def sm_scanner(w: World, h: Host, t: float) -> None:
    rng = w.rng
    ip = w.hostile_ip()
    pid = h.new_pid()
    qid = sendmail_queue_id(w, h, t, pid)
    roll = rng.random()
    if roll < 0.6:
        w.log(t + rng.uniform(0, 20), h, f"sm-mta[{pid}]: {qid}: [{ip}] did not issue MAIL/EXPN/VRFY/ETRN during "
                                         f"connection to MTA")
    elif roll < 0.8:
        w.log(t, h, f"sm-mta[{pid}]: rejecting commands from [{ip}] [{ip}] due to pre-greeting traffic after "
                    f"0 seconds")
    else:
        w.log(t + rng.uniform(0, 5), h, f"sm-mta[{pid}]: {qid}: lost input channel from [{ip}] to MTA after "
                                        f"{rng.choice(('ehlo', 'starttls', 'rcpt'))}")


def sm_local(w: World, h: Host, t: float) -> None:
    """Cron mail: the MSP hands the message to sm-mta on 127.0.0.1, which delivers it locally."""
    rng = w.rng
    msp_pid, mta_pid = h.new_pid(), h.new_pid()
    first, second = sendmail_queue_id(w, h, t, msp_pid), sendmail_queue_id(w, h, t, mta_pid)
    size = rng.randrange(500, 4000)
    msgid = f"<{w.clock(t):%Y%m%d%H%M}.{first}@{h.fqdn}>"
    msp = "sm-msp-queue" if rng.random() < 0.2 else "sendmail"
    w.log(t, h, f"{msp}[{msp_pid}]: {first}: from=root, size={size}, class=0, nrcpts=1, msgid={msgid}, "
                f"relay=root@localhost")
    t += 0.05
    w.log(t, h, f"sm-mta[{mta_pid}]: {second}: from=<root@{h.fqdn}>, size={size + 300}, class=0, nrcpts=1, "
                f"msgid={msgid}, proto=ESMTP, daemon=MTA, relay=localhost [127.0.0.1]")
    w.log(t + 0.01, h, f"{msp}[{msp_pid}]: {first}: to=root, ctladdr=root (0/0), delay=00:00:00, xdelay=00:00:00, "
                       f"mailer=relay, pri={size + 30000}, relay=[127.0.0.1] [127.0.0.1], dsn=2.0.0, "
                       f"stat=Sent ({second} Message accepted for delivery)")
    w.log(t + 0.05, h, f"sm-mta[{h.new_pid()}]: {second}: to=<root@{h.fqdn}>, ctladdr=<root@{h.fqdn}> (0/0), "
                       f"delay=00:00:00, xdelay=00:00:00, mailer=local, pri={size + 30300}, dsn=2.0.0, stat=Sent")


SENDMAIL_SCENES: tuple[tuple[float, Scene], ...] = (
    (36, sm_inbound), (16, sm_outbound), (12, sm_reject), (8, sm_scanner), (4, sm_auth_noise), (3, sm_local))


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
