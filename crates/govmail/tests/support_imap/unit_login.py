"""A unit mailbox as its own account, with Python's smtplib and imaplib over implicit TLS:
the delegate logs in as UNIT*PERSON with their own password.

- smtplib as UNIT*B (send right): sends as the unit (From: the unit) to the unit and to A.
- smtplib as UNIT*A (read only): logged in, but MAIL FROM the unit is refused 550 5.7.1.
- smtplib as UNIT*C (no right): 535 5.7.8, like a wrong password (RFC 4954 6).
- imaplib as UNIT*A (lrs): NAMESPACE without a shared namespace (RFC 2342 5), the unit's
  INBOX at the root with the message B sent (Sender: B), STORE \\Flagged / APPEND / EXPUNGE /
  CREATE answer NO [NOPERM] (RFC 4314 4, RFC 5530 3).
- imaplib AUTHENTICATE PLAIN with authzid = the unit (RFC 4616 2) as B.
- imaplib as UNIT*C: NO [AUTHENTICATIONFAILED] (RFC 5530 3).
- revocation: the command after `--` revokes A; A's open session gets BYE within a second
  (RFC 9051 7.1.5).

usage: unit_login.py HOST IMAPS SUBMISSIONS UNIT A PW_A B PW_B C PW_C -- REVOKE-COMMAND...
"""
import email.policy
import imaplib
import smtplib
import subprocess
import sys
import time
from email.message import EmailMessage

from imaptest_common import check, ok, tls_context

args = sys.argv[1:]
split = args.index("--")
host, imaps, submissions, unit, user_a, pw_a, user_b, pw_b, user_c, pw_c = args[:split]
revoke = args[split + 1:]
SUBJECT = "Công văn số 7 về chuyển đổi số"

# ---------------------------------------------------------------- submission
msg = EmailMessage(policy=email.policy.SMTP)
msg["From"] = "Sở Thông tin và Truyền thông <%s>" % unit
msg["To"] = "%s, %s" % (unit, user_a)
msg["Subject"] = SUBJECT
msg["Date"] = "Mon, 23 Nov 2026 10:00:00 +0700"
msg["Message-ID"] = "<unit-login-1@kontum.gov.vn>"
msg.set_content("Kính gửi các phòng,\nĐề nghị triển khai.\n", cte="8bit")

s = smtplib.SMTP_SSL(host, int(submissions), context=tls_context(), timeout=30)
code, text = s.login("%s*%s" % (unit, user_b), pw_b)
check(code == 235, "AUTH as UNIT*B: %r %r" % (code, text))
refused = s.send_message(msg, from_addr=unit, to_addrs=[unit, user_a])
check(refused == {}, "recipients refused: %r" % (refused,))
try:
    s.sendmail(user_b, [user_a], b"From: <%s>\r\nSubject: x\r\n\r\nx\r\n" % user_b.encode())
    check(False, "a unit login sent as the person")
except smtplib.SMTPSenderRefused as e:
    check(e.smtp_code == 550 and b"5.7.1" in e.smtp_error, "own address: %r" % (e,))
s.quit()
print("smtp: B sent as the unit")

s = smtplib.SMTP_SSL(host, int(submissions), context=tls_context(), timeout=30)
s.login("%s*%s" % (unit, user_a), pw_a)
try:
    s.sendmail(unit, [user_a], msg.as_bytes())
    check(False, "a read-only delegate sent as the unit")
except smtplib.SMTPSenderRefused as e:
    check(e.smtp_code == 550 and b"5.7.1" in e.smtp_error, "read-only send: %r" % (e,))
s.quit()
print("smtp: A (read only) may not send")

for who, pw in ((user_c, pw_c), (user_a, "wrong-password")):
    s = smtplib.SMTP_SSL(host, int(submissions), context=tls_context(), timeout=30)
    try:
        s.login("%s*%s" % (unit, who), pw)
        check(False, "UNIT*%s logged in" % who)
    except smtplib.SMTPAuthenticationError as e:
        check(e.smtp_code == 535 and b"5.7.8" in e.smtp_error, "refusal: %r" % (e,))
    s.close()
print("smtp: no right and wrong password refused alike")

# ---------------------------------------------------------------- IMAP
m = imaplib.IMAP4_SSL(host, int(imaps), ssl_context=tls_context(), timeout=30)
typ, resp = m.login("%s*%s" % (unit, user_a), pw_a)
check(typ == "OK", "LOGIN UNIT*A: %r" % (resp,))
typ, data = m.namespace()
check(typ == "OK" and data[0] == b'(("" "/")) NIL NIL', "NAMESPACE: %r" % (data,))
typ, data = m.list()
names = [line.decode() for line in data]
check(any(n.endswith('"INBOX"') or n.endswith(" INBOX") for n in names), "LIST: %r" % (names,))
typ, data = m.select("INBOX")
check(typ == "OK", "SELECT: %r" % (data,))
# RFC 4314 5.2: "s" is a shared flag right here (a unit's \Seen is one value for all).
check("READ-WRITE" in m.untagged_responses, "SELECT: %r" % (m.untagged_responses,))
typ, data = m.uid("SEARCH", None, "ALL")
uids = data[0].split()
check(len(uids) == 1, "unit INBOX: %r" % (data,))
typ, data = m.uid("FETCH", uids[0], "(BODY[])")
raw = data[0][1]
check(("Sender: " in raw.decode("utf-8", "replace")) and user_b.encode() in raw, "Sender: %r" % (raw[:600],))
check(b"=?utf-8?" in raw.lower(), "subject: %r" % (raw[:400],))
typ, data = m.myrights("INBOX")
check(typ == "OK" and data[0].endswith(b" lrs"), "MYRIGHTS: %r" % (data,))
for what, res in (
    ("STORE", m.uid("STORE", uids[0], "+FLAGS", "(\\Flagged)")),
    ("APPEND", m.append("INBOX", None, None, b"Subject: x\r\n\r\nx\r\n")),
    ("EXPUNGE", m.expunge()),
    ("CREATE", m.create("Archive")),
):
    typ, data = res
    check(typ == "NO" and b"[NOPERM]" in data[0], "%s: %s %r" % (what, typ, data))
print("imap: A sees the unit read-only")

b = imaplib.IMAP4_SSL(host, int(imaps), ssl_context=tls_context(), timeout=30)
typ, resp = b.authenticate("PLAIN", lambda _: ("%s\0%s\0%s" % (unit, user_b, pw_b)).encode())
check(typ == "OK", "AUTHENTICATE PLAIN authzid=unit: %r" % (resp,))
typ, data = b.select("INBOX")
check(typ == "OK" and data[0] == b"1", "B's SELECT: %r" % (data,))
b.logout()
print("imap: PLAIN with the unit as authzid")

c = imaplib.IMAP4_SSL(host, int(imaps), ssl_context=tls_context(), timeout=30)
try:
    c.login("%s*%s" % (unit, user_c), pw_c)
    check(False, "UNIT*C logged in")
except imaplib.IMAP4.error as e:
    check("[AUTHENTICATIONFAILED]" in str(e), "C refused: %r" % (e,))
c.logout()
print("imap: C refused")

# ---------------------------------------------------------------- revocation
ran = subprocess.run(revoke, capture_output=True, text=True, timeout=60)
check(ran.returncode == 0, "revoke: %s" % ran.stderr)
revoked = time.monotonic()
m.sock.settimeout(5)
ended = None
while time.monotonic() - revoked < 3:
    try:
        m.noop()
        time.sleep(0.05)
    except (imaplib.IMAP4.abort, OSError) as e:
        ended = time.monotonic() - revoked
        print("imap: A's session ended: %r" % (e,))
        break
check(ended is not None, "A's session still open 3 s after the revoke")
check(ended < 1.0, "A's session ended only after %.2f s" % ended)
print("imap: revoked session ended after %.2f s" % ended)
print("ALL OK")
