"""Postfix scenes: postscreen, smtpd, cleanup, qmgr, smtp, lmtp, local and anvil as Postfix 3.x logs them."""
from __future__ import annotations

from collections.abc import Sequence

from .world import (ATTACK_USERNAMES, BASE64, DESTINATIONS, FIRST_NAMES, LAST_NAMES, LOCAL_DOMAIN, MONTHS,
                    OUTBOUND_DOMAINS, POSTFIX_LONG_ID, REMOTE_DOMAINS, ROLE_NAMES, Host, Scene, World,
                    choose_delivery, encode, format_delay, try_usernames)

# What smtpd (inbound) and smtp (outbound) log of the negotiated TLS, most clients being current.
TLS13 = "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 " \
        "server-signature RSA-PSS (2048 bits) server-digest SHA256"
TLS12 = "TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)"
TLS13_OUT = "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 " \
            "server-signature ECDSA (P-256) server-digest SHA256"


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

    def refused(t: float, name: str) -> None:
        w.log(t, h, f"{smtpd}: warning: {peer}: SASL {method} authentication failed: "
                    f"{postfix_sasl_reason(h, method)}, sasl_username={name}")

    t = try_usernames(w, t, usernames, refused)
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
