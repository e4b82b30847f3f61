"""What an IMAP account holds, seen over IMAP only (Python imaplib, independent of govmail's
client): every selectable folder (name decoded from modified UTF-7, RFC 3501 5.1.3) with its
message count, total RFC822.SIZE, and per message (SHA-256 of BODY[], flags without \\Recent,
INTERNALDATE as Unix seconds). Prints one JSON object.

usage: imap_dump.py HOST PORT LOGIN PASSWORD
"""
import base64
import hashlib
import imaplib
import json
import re
import sys
from datetime import datetime

host, port, login, password = sys.argv[1:5]


def mutf7_decode(name):
    def repl(m):
        inner = m.group(1)
        if inner == "":
            return "&"
        data = inner.replace(",", "/")
        data += "=" * (-len(data) % 4)
        return base64.b64decode(data).decode("utf-16-be")
    return re.sub(r"&([^-]*)-", repl, name)


LIST_RE = re.compile(rb'^\((?P<attrs>[^)]*)\) (?P<delim>"[^"]*"|NIL) (?P<name>.+)$')


def unquote(b):
    b = b.strip()
    if b.startswith(b'"') and b.endswith(b'"'):
        b = b[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")
    return b.decode()


imap = imaplib.IMAP4(host, int(port))
imap._mode_utf8 = False
typ, _ = imap.login(login, password)
assert typ == "OK"
typ, lines = imap.list('""', "*")
assert typ == "OK", lines
folders = []
pending = None
for item in lines:
    if isinstance(item, tuple):  # name as a literal
        head, name = item
        m = LIST_RE.match(head.rsplit(b" ", 1)[0] + b' "x"')
        folders.append((m.group("attrs"), name.decode()))
        continue
    if item is None or item == b")":
        continue
    m = LIST_RE.match(item)
    assert m, item
    folders.append((m.group("attrs"), unquote(m.group("name"))))

FETCH_RE = re.compile(rb"FLAGS \((?P<flags>[^)]*)\)")
DATE_RE = re.compile(rb'INTERNALDATE "(?P<date>[^"]+)"')
SIZE_RE = re.compile(rb"RFC822\.SIZE (?P<size>\d+)")

out = {}
for attrs, wire in folders:
    if b"\\Noselect" in attrs or b"\\NonExistent" in attrs:
        continue
    typ, data = imap.select('"' + wire.replace("\\", "\\\\").replace('"', '\\"') + '"', readonly=True)
    assert typ == "OK", (wire, data)
    count = int(data[0])
    messages = []
    total = 0
    for start in range(1, count + 1, 300):
        end = min(count, start + 299)
        typ, data = imap.fetch(f"{start}:{end}", "(FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])")
        assert typ == "OK", data
        for item in data:
            if not isinstance(item, tuple):
                continue
            head, body = item
            flags = sorted(f.decode() for f in FETCH_RE.search(head).group("flags").split()
                           if f.lower() != b"\\recent")
            date = DATE_RE.search(head).group("date").decode().strip()
            when = int(datetime.strptime(date, "%d-%b-%Y %H:%M:%S %z").timestamp())
            size = int(SIZE_RE.search(head).group("size"))
            assert size == len(body), (wire, size, len(body))
            total += size
            messages.append([hashlib.sha256(body).hexdigest(), flags, when])
    messages.sort()
    out[mutf7_decode(wire)] = {"count": count, "bytes": total, "messages": messages}
imap.logout()
print(json.dumps(out, ensure_ascii=False))
