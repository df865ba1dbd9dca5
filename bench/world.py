"""The shared ground of the simulated mail servers: who sends what to whom, from which machines, when.

Everything the three MTA scene modules have in common lives here: the names, domains and addresses
that fill the logs, the encoders of the MTAs' ids and delays, one server (Host) and the whole
simulation (World), the answers remote servers give (choose_delivery), the pacing of a bot's login
attempts (try_usernames), and the scheduler that runs scenes and yields their lines in time order.
"""
from __future__ import annotations

import calendar
import heapq
import itertools
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

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


def try_usernames(w: World, t: float, usernames: Sequence[str], log_failure: Callable[[float, str], None]) -> float:
    """A password-guessing client's attempts on one connection, one user name every few seconds.

    Every MTA's auth session shares this pacing, so an attack looks equally fast in all three logs;
    only the line each MTA writes for a refused name differs, and `log_failure(t, name)` writes it.
    Returns the time of the last attempt (`t` when there were none).
    """
    for name in usernames:
        t += w.rng.uniform(1.5, 6.0)
        log_failure(t, name)
    return t


def end_auth_session(w: World, h: Host, t: float, pause: tuple[float, float], quit_line: Callable[[float], str],
                     lost_line: Callable[[float], str]) -> float:
    """How a guessing client's connection ends after a pause: half quit without a MAIL, half drop the
    connection. Each `*_line(t)` is the line the MTA writes; returns the time of that line."""
    t += w.rng.uniform(*pause)
    w.log(t, h, quit_line(t) if w.rng.random() < 0.5 else lost_line(t))
    return t


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

