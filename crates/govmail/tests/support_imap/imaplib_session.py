"""Python imaplib over IMAPS: LOGIN, LIST, SELECT, APPEND (Vietnamese subject, UTF-8 body),
SEARCH CHARSET UTF-8 with a literal, FETCH, STORE, CREATE + COPY into a Vietnamese folder
(modified UTF-7), EXPUNGE, ENABLE UTF8=ACCEPT, LOGOUT.

usage: imaplib_session.py HOST IMAPS_PORT USER PASSWORD FOLDER OUT.eml
"""
import email.policy
import imaplib
import re
import sys
import time
from email.header import decode_header, make_header
from email.message import EmailMessage

from imaptest_common import (check, fetch_items, flags_of, list_folders, mutf7_encode,
                             ok, quote, tls_context)

host, port, user, password, folder, out_path = sys.argv[1:7]
SUBJECT = "Họp chuyển đổi số tỉnh Kon Tum"
MESSAGE_ID = "<imaplib-1@kontum.gov.vn>"

msg = EmailMessage(policy=email.policy.SMTP)
msg["From"] = "Nguyễn Văn An <%s>" % user
msg["To"] = "Văn phòng UBND tỉnh <vanphong@kontum.gov.vn>"
msg["Subject"] = SUBJECT
msg["Date"] = "Mon, 23 Nov 2026 10:00:00 +0700"
msg["Message-ID"] = MESSAGE_ID
msg.set_content("Kính gửi các đồng chí,\nTrân trọng kính mời dự họp về chuyển đổi số.\n", cte="8bit")
data = msg.as_bytes()
check(b"=?utf-8?" in data.lower(), "subject not RFC 2047 encoded: %r" % (data,))
check("Trân trọng".encode() in data, "body not 8bit UTF-8: %r" % (data,))
with open(out_path, "wb") as f:
    f.write(data)

m = imaplib.IMAP4_SSL(host, int(port), ssl_context=tls_context(), timeout=30)
caps = m.capabilities
check("AUTH=PLAIN" in caps, "AUTH=PLAIN not offered under TLS: %r" % (caps,))
check("STARTTLS" not in caps and "LOGINDISABLED" not in caps, "IMAPS greeting: %r" % (caps,))
typ, resp = m.login(user, password)
check(typ == "OK", "LOGIN: %r" % (resp,))
print("login:", resp[0].decode())

folders = list_folders(m)
names = [n for _, n in folders]
for expected in ("INBOX", "Sent", "Drafts", "Trash", "Junk"):
    check(expected in names, "LIST lacks %s: %r" % (expected, folders))
check("\\Sent" in dict((n, f) for f, n in folders)["Sent"], "Sent without \\Sent: %r" % (folders,))
check(folder not in names, "%s exists before CREATE" % folder)

typ, resp = m.select("INBOX")
check(typ == "OK" and resp == [b"0"], "SELECT INBOX: %s %r" % (typ, resp))

typ, resp = m.append("INBOX", None, imaplib.Time2Internaldate(time.time()), data)
check(typ == "OK", "APPEND: %s %r" % (typ, resp))
appenduid = re.match(rb"\[APPENDUID (\d+) (\d+)\]", resp[0])
check(appenduid is not None, "APPEND without APPENDUID: %r" % (resp,))
uid = int(appenduid.group(2))
m.noop()
exists = m.response("EXISTS")[1]
check(b"1" in exists, "no * 1 EXISTS after APPEND into the selected mailbox: %r" % (exists,))

# SEARCH with a Vietnamese word as a literal (imaplib sends {n} and waits for "+").
m.literal = "chuyển đổi".encode("utf-8")
typ, resp = m.search("UTF-8", "SUBJECT")
check(typ == "OK" and resp == [b"1"], "SEARCH SUBJECT chuyển đổi: %s %r" % (typ, resp))
m.literal = "CHUYỂN ĐỔI SỐ".encode("utf-8")
typ, resp = m.search("UTF-8", "SUBJECT")
check(typ == "OK" and resp == [b"1"], "SEARCH is case-insensitive for Vietnamese: %r" % (resp,))
m.literal = "Hà Nội".encode("utf-8")
typ, resp = m.search("UTF-8", "SUBJECT")
check(typ == "OK" and resp == [b""], "SEARCH SUBJECT Hà Nội must match nothing: %r" % (resp,))
m.literal = "trân trọng kính mời".encode("utf-8")
typ, resp = m.search("UTF-8", "BODY")
check(typ == "OK" and resp == [b"1"], "SEARCH BODY trân trọng: %r" % (resp,))

typ, resp = m.fetch("1", "(BODY.PEEK[] FLAGS ENVELOPE)")
check(typ == "OK", "FETCH: %r" % (resp,))
items = fetch_items(resp)
check(len(items) == 1, "one FETCH item expected: %r" % (resp,))
meta, body = items[0]
check(body == data, "fetched bytes differ from appended bytes:\n%r\n%r" % (body, data))
check("\\Seen" not in flags_of(meta), "BODY.PEEK[] set \\Seen: %r" % (meta,))
env = re.search(rb'ENVELOPE \("([^"]*)" "([^"]*)"', meta)
check(env is not None, "no ENVELOPE date/subject in %r" % (meta,))
check(env.group(1) == b"Mon, 23 Nov 2026 10:00:00 +0700", "ENVELOPE date: %r" % (env.group(1),))
subject = str(make_header(decode_header(env.group(2).decode())))
check(subject == SUBJECT, "ENVELOPE subject decodes to %r" % (subject,))
check(('"%s"' % MESSAGE_ID).encode() in meta, "ENVELOPE lacks the Message-ID: %r" % (meta,))
check(('"%s" "%s"' % tuple(user.split("@"))).encode() in meta, "ENVELOPE from: %r" % (meta,))

typ, resp = m.store("1", "+FLAGS", "(\\Seen)")
check(typ == "OK" and resp and b"\\Seen" in resp[0], "STORE +FLAGS \\Seen: %r" % (resp,))
typ, resp = m.uid("FETCH", str(uid), "(FLAGS)")
check(b"\\Seen" in resp[0], "UID FETCH FLAGS after STORE: %r" % (resp,))

encoded = mutf7_encode(folder)
check(encoded != folder and "&" in encoded, "test folder name must need modified UTF-7")
ok(m.create(quote(encoded)), "CREATE %s" % encoded)
typ, resp = m.copy("1", quote(encoded))
check(typ == "OK" and b"[COPYUID " in resp[0], "COPY: %s %r" % (typ, resp))
typ, raw = m.list('""', quote(encoded))
check(typ == "OK" and raw and raw[0] is not None and raw[0].endswith(quote(encoded).encode()),
      "LIST must name the folder in the same modified UTF-7: %r" % (raw,))
check(folder in [n for _, n in list_folders(m)], "new folder not in LIST")
typ, resp = m.status(quote(encoded), "(MESSAGES UNSEEN)")
check(typ == "OK" and b"MESSAGES 1" in resp[0] and b"UNSEEN 0" in resp[0], "STATUS: %r" % (resp,))

typ, resp = m.store("1", "+FLAGS", "(\\Deleted)")
check(typ == "OK", "STORE \\Deleted: %r" % (resp,))
typ, resp = m.expunge()
check(typ == "OK" and resp == [b"1"], "EXPUNGE must report * 1 EXPUNGE: %r" % (resp,))
typ, resp = m.search(None, "ALL")
check(resp == [b""], "INBOX must be empty after EXPUNGE: %r" % (resp,))

typ, resp = m.select(quote(encoded))
check(typ == "OK" and resp == [b"1"], "SELECT %s: %s %r" % (encoded, typ, resp))
typ, resp = m.fetch("1", "(FLAGS BODY.PEEK[])")
meta, body = fetch_items(resp)[0]
check(body == data, "the copy differs from the appended bytes")
# RFC 3501 6.4.7: the copy keeps its flags "and the Recent flag SHOULD be set".
check(flags_of(meta) == ["\\Recent", "\\Seen"], "the copy keeps \\Seen, is \\Recent: %r" % (meta,))
typ, resp = m.logout()
check(typ == "BYE", "LOGOUT: %s %r" % (typ, resp))

# A second session names the folder in UTF-8 after ENABLE UTF8=ACCEPT (RFC 6855).
m = imaplib.IMAP4_SSL(host, int(port), ssl_context=tls_context(), timeout=30)
ok(m.login(user, password), "LOGIN 2")
typ, resp = m.enable("UTF8=ACCEPT")
check(typ == "OK", "ENABLE UTF8=ACCEPT: %r" % (resp,))
typ, resp = m.list('""', "*")
check(any(quote(folder).encode() in (r or b"") for r in resp),
      "after ENABLE UTF8=ACCEPT, LIST names the folder in UTF-8: %r" % (resp,))
typ, resp = m.select(quote(folder))
check(typ == "OK" and resp == [b"1"], "SELECT in UTF-8: %s %r" % (typ, resp))
typ, resp = m.fetch("1", "(BODY.PEEK[])")
check(fetch_items(resp)[0][1] == data, "FETCH under UTF8=ACCEPT changed the bytes")
typ, resp = m.logout()
check(typ == "BYE", "LOGOUT 2: %s %r" % (typ, resp))
print("ok")
