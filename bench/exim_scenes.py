"""Exim scenes: the main log of Exim 4 as Debian configures it, one log per server."""
from __future__ import annotations

from collections.abc import Sequence

from .world import (ATTACK_USERNAMES, BASE62, BASE64, FIRST_NAMES, LAST_NAMES, LOCAL_DOMAIN, OUTBOUND_DOMAINS,
                    REMOTE_DOMAINS, ROLE_NAMES, SUBJECTS, Delivery, Host, Scene, World, choose_delivery, encode,
                    end_auth_session, try_usernames)

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

    def refused(t: float, name: str) -> None:
        w.log(t, h, f"{method} authenticator failed for ({helo}) [{ip}]: 535 Incorrect authentication data "
                    f"(set_id={name})")

    t = try_usernames(w, t, usernames, refused)
    commands = ",".join(["EHLO"] + ["AUTH"] * len(usernames))
    return end_auth_session(
        w, h, t, (0.05, 1),
        lambda t: f"no MAIL in SMTP connection from ({helo}) [{ip}] D={int(t - start) + 1}s C={commands},QUIT",
        lambda t: f"SMTP connection from ({helo}) [{ip}] lost D={int(t - start) + 1}s")


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
