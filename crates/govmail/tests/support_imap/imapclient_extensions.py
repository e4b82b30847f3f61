"""imapclient (pip) drives MULTIAPPEND (RFC 3502), CATENATE (RFC 4469) and NOTIFY (RFC 5465)
against govmail over IMAPS. imapclient has multiappend(); CATENATE and NOTIFY go through its
_raw_command (it sends literals as the server asks), unsolicited responses are read with
idle_check (which reads whatever the server sent, IDLE or not).

usage: imapclient_extensions.py HOST IMAPS_PORT USER PASSWORD
Prints "ok multiappend catenate notify" when every check passed.
"""
import sys
import time

from imapclient import IMAPClient
from imapclient.imapclient import _literal

from imaptest_common import check, tls_context

host, port, user, password = sys.argv[1:5]


def client():
    c = IMAPClient(host, port=int(port), ssl=True, ssl_context=tls_context(), timeout=30)
    c.login(user, password)
    return c


def message(n, body):
    return (
        "From: <%s>\r\nTo: <%s>\r\nSubject: =?UTF-8?B?VGjGsCBz4buRIDE=?= %d\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n%s\r\n" % (user, user, n, body)
    ).encode()


def wait_for(c, wanted, seconds=10):
    """Unsolicited responses until each text in `wanted` was seen in one (repr'd)."""
    seen = []
    deadline = time.time() + seconds
    while time.time() < deadline and not all(any(w in s for s in seen) for w in wanted):
        seen.extend(repr(r) for r in c.idle_check(timeout=0.5))
    check(all(any(w in s for s in seen) for w in wanted), "wanted %r, saw %r" % (wanted, seen))
    return seen


c = client()
caps = c.capabilities()
for cap in (b"MULTIAPPEND", b"CATENATE", b"NOTIFY", b"UIDPLUS"):
    check(cap in caps, "capability %s in %r" % (cap, caps))

# ---- MULTIAPPEND: three messages in one APPEND, APPENDUID with the three UIDs.
bodies = ["Kính gửi anh An", "Công văn số 2", "Báo cáo tuần"]
typ, data = c.multiappend(
    "INBOX",
    [
        {"msg": message(0, bodies[0]), "flags": [b"\\Seen"]},
        {"msg": message(1, bodies[1])},
        message(2, bodies[2]),
    ],
)
check(typ == "OK" and b"[APPENDUID " in data[0] and b" 1:3]" in data[0], "MULTIAPPEND: %s %r" % (typ, data))
info = c.select_folder("INBOX")
check(info[b"EXISTS"] == 3, "EXISTS after MULTIAPPEND: %r" % info)
flags = c.get_flags([1, 2])
check(b"\\Seen" in flags[1] and b"\\Seen" not in flags[2], "flags %r" % flags)
# A zero-length message cancels the whole APPEND (RFC 3502: "MUST return a NO").
typ, data = c.multiappend("INBOX", [message(3, "x"), b"", message(4, "y")])
check(typ == "NO", "MULTIAPPEND with an empty message: %s %r" % (typ, data))
check(c.folder_status("INBOX", ["MESSAGES"])[b"MESSAGES"] == 3, "nothing of a failed MULTIAPPEND")

# ---- CATENATE: a new message from a TEXT literal and the body of message 2.
validity = info[b"UIDVALIDITY"]
head = b"From: <%s>\r\nSubject: Fwd\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" % user.encode()
typ, data = c._raw_command(
    b"APPEND",
    [
        b'"Drafts"',
        b"CATENATE",
        b"(TEXT",
        _literal(head),
        b'URL "/INBOX;UIDVALIDITY=%d/;UID=2/;SECTION=TEXT")' % validity,
    ],
    uid=False,
)
check(typ == "OK" and b"APPENDUID" in data[0], "CATENATE: %s %r" % (typ, data))
c.select_folder("Drafts")
body = c.fetch([1], [b"BODY.PEEK[]"])[1][b"BODY[]"]
check(body == head + (bodies[1] + "\r\n").encode(), "catenated message %r" % body)
# A URL to a message that is not there: NO [BADURL url], nothing appended.
typ, data = c._raw_command(
    b"APPEND", [b'"Drafts"', b"CATENATE", b'(URL "/INBOX/;UID=99")'], uid=False
)
check(typ == "NO" and b"[BADURL /INBOX/;UID=99]" in data[0], "BADURL: %s %r" % (typ, data))
# Another user's mailbox: the same BADURL.
other = b"imap://ttbinh.stttt%%40kontum.gov.vn@%s/INBOX/;UID=1" % host.encode()
typ, data = c._raw_command(
    b"APPEND", [b'"Drafts"', b"CATENATE", b'(URL "' + other + b'")'], uid=False
)
check(typ == "NO" and b"[BADURL " in data[0], "another user's URL: %s %r" % (typ, data))
check(c.folder_status("Drafts", ["MESSAGES"])[b"MESSAGES"] == 1, "nothing of the refused CATENATEs")

# ---- NOTIFY: the selected INBOX and the Sent folder, told as changes happen.
c.select_folder("INBOX")
typ, data = c._raw_command(
    b"NOTIFY",
    [
        b"SET",
        b"STATUS",
        b"(selected",
        b"(MessageNew",
        b"(UID",
        b"FLAGS)",
        b"MessageExpunge))",
        b"(mailboxes",
        b"Sent",
        b"(MessageNew",
        b"MessageExpunge))",
    ],
    uid=False,
)
check(typ == "OK", "NOTIFY SET: %s %r" % (typ, data))
status = c._imap.untagged_responses.pop("STATUS", [])
check(any(b"Sent" in s and b"MESSAGES 0" in s for s in status), "STATUS indicator: %r" % status)
# Unsupported event: NO [BADEVENT (...)], not BAD.
typ, data = c._raw_command(b"NOTIFY", [b"SET", b"(personal", b"(MailboxMetadataChange))"], uid=False)
check(typ == "NO" and b"[BADEVENT (" in data[0], "BADEVENT: %s %r" % (typ, data))
# A refused NOTIFY SET changes nothing; set the watch again without the STATUS indicator.
typ, _ = c._raw_command(
    b"NOTIFY",
    [b"SET", b"(selected", b"(MessageNew", b"(UID", b"FLAGS)", b"MessageExpunge))",
     b"(mailboxes", b"Sent", b"(MessageNew", b"MessageExpunge))"],
    uid=False,
)
check(typ == "OK", "NOTIFY SET again")

c2 = client()
c2.append("INBOX", message(5, "Mới đến"))
c2.append("Sent", message(6, "Đã gửi"))
# Between commands, no IDLE: EXISTS and FETCH (UID FLAGS) for INBOX, STATUS for Sent.
wait_for(c, ["4, b'EXISTS'", "b'UID', 4", "b'STATUS'"])
# During IDLE the same events come (RFC 5465 4).
c.idle()
c2.append("Sent", message(7, "Lần hai"))
seen = wait_for(c, ["b'STATUS'"])
c.idle_done()
check(any("MESSAGES', 2" in s for s in seen), "STATUS of Sent during IDLE: %r" % seen)
# NOTIFY NONE: nothing more is told between commands.
typ, _ = c._raw_command(b"NOTIFY", [b"NONE"], uid=False)
check(typ == "OK", "NOTIFY NONE")
c2.append("Sent", message(8, "Lần ba"))
time.sleep(1.0)
quiet = c.idle_check(timeout=0.5)
check(not quiet, "after NOTIFY NONE: %r" % quiet)
c2.logout()
c.logout()
print("ok multiappend catenate notify")
