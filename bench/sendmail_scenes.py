"""Sendmail scenes: sm-mta and the submission program (MSP) as Sendmail 8.x logs them to syslog."""
from __future__ import annotations

from collections.abc import Sequence

from .world import (ATTACK_USERNAMES, FIRST_NAMES, LAST_NAMES, LOCAL_DOMAIN, OUTBOUND_DOMAINS, ROLE_NAMES,
                    SENDMAIL_ID, Host, Scene, World, choose_delivery, format_hms,
                    end_auth_session, try_usernames)


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

    def refused(t: float, name: str) -> None:
        w.log(t, h, f"{program}: {qid}: AUTH failure ({method}): authentication failure (-13) SASL(-13): "
                    f"authentication failure: checkpass failed, user={name}, relay=[{ip}]")

    t = try_usernames(w, t, usernames, refused)
    if len(usernames) >= 6:
        w.log(t + 0.01, h, f"{program}: {qid}: [{ip}]: possible SMTP attack: command=AUTH, count={len(usernames)}")
    return end_auth_session(
        w, h, t, (0.1, 2),
        lambda _t: f"{program}: {qid}: [{ip}] did not issue MAIL/EXPN/VRFY/ETRN during connection to MTA",
        lambda _t: f"{program}: {qid}: lost input channel from [{ip}] to MTA after auth")


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

