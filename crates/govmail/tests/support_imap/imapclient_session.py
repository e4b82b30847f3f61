"""imapclient (pip): messages delivered through the MX port (python smtplib, no AUTH) are read
back with ENVELOPE, BODYSTRUCTURE, BODY[n] and BINARY[n]; then one session IDLEs while another
APPENDs and while a message arrives by SMTP: the idler must see EXISTS within 1 s each time.

usage: imapclient_session.py HOST IMAPS_PORT MX_PORT USER PASSWORD
Prints one line "latency append=<s> smtp=<s>".
"""
import email.policy
import smtplib
import sys
import time
from email.header import decode_header, make_header
from email.message import EmailMessage

from imapclient import IMAPClient

from imaptest_common import check, tls_context

host, imaps, mx, user, password = sys.argv[1:6]
SENDER = "ttbinh@partner.example.org"
# Every byte value but NUL: BINARY content with NUL must travel as a literal8 (RFC 3516 4.3),
# which imapclient cannot parse; that case is covered by crates/imap/tests/golden.rs.
PDF = b"%PDF-1.4\n" + bytes(range(1, 256)) * 8 + b"\n%%EOF\n"
SUBJECTS = [
    "Kế hoạch chuyển đổi số năm 2025",
    "Công văn số 128/UBND-KGVX về việc tổ chức Tết",
]


def message(i, subject, attach):
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = "Trần Thị Bình <%s>" % SENDER
    msg["To"] = user
    msg["Cc"] = "Phòng Kế hoạch <kehoach@partner.example.org>"
    msg["Subject"] = subject
    msg["Date"] = "Tue, 24 Nov 2026 08:30:00 +0700"
    msg["Message-ID"] = "<imapclient-%d@partner.example.org>" % i
    msg.set_content("Kính gửi anh An,\nXin gửi tài liệu số %d.\n" % i, cte="8bit")
    if attach:
        msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="ke-hoach.pdf")
    return msg.as_bytes()


def smtp_deliver(data):
    with smtplib.SMTP(host, int(mx), timeout=30) as s:
        s.ehlo("mail.partner.example.org")
        refused = s.sendmail(SENDER, [user], data)
        check(not refused, "refused: %r" % (refused,))


def client():
    c = IMAPClient(host, port=int(imaps), ssl=True, ssl_context=tls_context(), timeout=30)
    c.login(user, password)
    return c


def lower(x):
    return x.lower() if isinstance(x, bytes) else x


for i, subject in enumerate(SUBJECTS):
    smtp_deliver(message(i, subject, attach=(i == 0)))

c = client()
info = c.select_folder("INBOX")
check(info[b"EXISTS"] == 2, "INBOX after two MX deliveries: %r" % (info,))
uids = c.search("ALL")
check(len(uids) == 2, "SEARCH ALL: %r" % (uids,))
data = c.fetch(uids, ["ENVELOPE", "BODYSTRUCTURE", "RFC822.SIZE", "FLAGS"])
for n, uid in enumerate(uids):
    env = data[uid][b"ENVELOPE"]
    subject = str(make_header(decode_header(env.subject.decode())))
    check(subject == SUBJECTS[n], "uid %d: ENVELOPE subject %r" % (uid, subject))
    check(env.message_id == ("<imapclient-%d@partner.example.org>" % n).encode(), "message-id %r" % (env.message_id,))
    sender = env.from_[0]
    check((sender.mailbox, sender.host) == (b"ttbinh", b"partner.example.org"), "from %r" % (sender,))
    check(str(make_header(decode_header(sender.name.decode()))) == "Trần Thị Bình", "from name %r" % (sender.name,))
    check([(a.mailbox, a.host) for a in env.to] == [tuple(x.encode() for x in user.split("@"))], "to %r" % (env.to,))
    check([a.mailbox for a in env.cc] == [b"kehoach"], "cc %r" % (env.cc,))
    check(env.date is not None and (env.date.year, env.date.month, env.date.day) == (2026, 11, 24), "date %r" % (env.date,))
    # RFC 3501 2.3.2: this IMAP4rev1 session is the first to select since delivery.
    check(data[uid][b"FLAGS"] == (b"\\Recent",), "fresh mail is \\Recent only: %r" % (data[uid][b"FLAGS"],))

bs = data[uids[0]][b"BODYSTRUCTURE"]
check(bs.is_multipart, "first message must be multipart: %r" % (bs,))
parts, subtype = bs[0], bs[1]
check(lower(subtype) == b"mixed" and len(parts) == 2, "multipart/mixed with 2 parts: %r" % (bs,))
text, pdf = parts
check((lower(text[0]), lower(text[1])) == (b"text", b"plain"), "part 1 %r" % (text,))
check([lower(x) for x in text[2]] == [b"charset", b"utf-8"], "part 1 params %r" % (text[2],))
check(lower(text[5]) == b"8bit", "part 1 encoding %r" % (text,))
check((lower(pdf[0]), lower(pdf[1])) == (b"application", b"pdf"), "part 2 %r" % (pdf,))
check(lower(pdf[5]) == b"base64", "part 2 encoding %r" % (pdf,))
disposition = [x for x in pdf[7:] if isinstance(x, tuple) and x and lower(x[0]) == b"attachment"]
check(disposition and [lower(v) for v in disposition[0][1]] == [b"filename", b"ke-hoach.pdf"],
      "part 2 disposition %r" % (pdf,))
bs2 = data[uids[1]][b"BODYSTRUCTURE"]
check(not bs2.is_multipart and (lower(bs2[0]), lower(bs2[1])) == (b"text", b"plain"), "second: %r" % (bs2,))

parts = c.fetch([uids[0]], ["BODY.PEEK[1]", "BINARY.PEEK[2]", "BODY.PEEK[2.MIME]"])[uids[0]]
check("Xin gửi tài liệu số 0".encode() in parts[b"BODY[1]"], "BODY[1]: %r" % (parts[b"BODY[1]"],))
check(parts[b"BINARY[2]"] == PDF, "BINARY[2] must be the decoded PDF (%d bytes vs %d)" % (len(parts[b"BINARY[2]"]), len(PDF)))
check(b"application/pdf" in parts[b"BODY[2.MIME]"].lower(), "BODY[2.MIME]: %r" % (parts[b"BODY[2.MIME]"],))
check(c.get_flags(uids)[uids[0]] == (b"\\Recent",), "PEEK must not set \\Seen")

# IDLE: one session idles, another appends; then an SMTP delivery.
idler = client()
check(idler.select_folder("INBOX")[b"EXISTS"] == 2, "idler sees two")
idler.idle()
other = client()


def wait_exists(n, since, what):
    deadline = since + 1.0
    seen = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        for r in idler.idle_check(timeout=left):
            seen.append(r)
            if len(r) >= 2 and r[1] == b"EXISTS" and r[0] == n:
                return time.monotonic() - since
    sys.exit("FAILED: %s: the idler did not see * %d EXISTS within 1 s; got %r" % (what, n, seen))


appended = message(2, "Thông báo khẩn: lịch trực Tết", attach=False)
resp = other.append("INBOX", appended, flags=[b"\\Flagged"])
t_append = time.monotonic()
check(b"APPENDUID" in resp, "APPEND without APPENDUID: %r" % (resp,))
latency_append = wait_exists(3, t_append, "APPEND by another session")

smtp_deliver(message(3, "Thư đến qua cổng MX trong lúc IDLE", attach=False))
t_smtp = time.monotonic()
latency_smtp = wait_exists(4, t_smtp, "SMTP delivery")
idler.idle_done()

uids = idler.search("ALL")
check(len(uids) == 4, "four messages after IDLE: %r" % (uids,))
flags = idler.get_flags(uids)
# RFC 3501 2.3.2: the idler was the first session told about it (EXISTS), so it is \\Recent.
check(flags[uids[2]] == (b"\\Flagged", b"\\Recent"), "the appended message keeps \\Flagged: %r" % (flags,))
body = idler.fetch([uids[2]], ["BODY.PEEK[]"])[uids[2]][b"BODY[]"]
check(body == appended, "appended bytes differ")
for c_ in (c, idler, other):
    c_.logout()
print("latency append=%.3f smtp=%.3f" % (latency_append, latency_smtp))
