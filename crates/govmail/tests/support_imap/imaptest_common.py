"""Shared helpers for the govmail IMAP client tests (written by imap_clients.rs)."""
import base64, imaplib, json, re, ssl, sys

imaplib._MAXLINE = 10_000_000


def fail(what):
    sys.exit("FAILED: " + what)


def check(cond, what):
    if not cond:
        fail(what)


def ok(res, what):
    typ, data = res
    if typ != "OK":
        fail("%s: %s %r" % (what, typ, data))
    return data


def mutf7_encode(s):
    """RFC 3501 5.1.3 modified UTF-7."""
    out, buf = [], []

    def flush():
        if buf:
            raw = "".join(buf).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode().rstrip("=").replace("/", ",") + "-")
            buf.clear()

    for ch in s:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            buf.append(ch)
    flush()
    return "".join(out)


def mutf7_decode(s):
    def repl(m):
        t = m.group(1)
        if t == "":
            return "&"
        t = t.replace(",", "/")
        t += "=" * (-len(t) % 4)
        return base64.b64decode(t).decode("utf-16-be")

    return re.sub(r"&([^-]*)-", repl, s)


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def connect(host, port, user, password):
    m = imaplib.IMAP4_SSL(host, int(port), ssl_context=tls_context(), timeout=30)
    ok(m.login(user, password), "LOGIN")
    return m


LIST_RE = re.compile(rb'^\((?P<flags>[^)]*)\) (?P<sep>"(?:[^"\\]|\\.)*"|NIL) (?P<name>.+)$')


def unquote(b):
    if b.startswith(b'"') and b.endswith(b'"'):
        return re.sub(rb"\\(.)", rb"\1", b[1:-1])
    return b


def list_folders(m, pattern="*"):
    """[(flags, decoded name)] from LIST "" pattern."""
    data = ok(m.list('""', pattern), "LIST")
    out = []
    i = 0
    while i < len(data):
        item = data[i]
        i += 1
        if item is None:
            continue
        if isinstance(item, tuple):  # name as a literal
            head, name = item
            mm = LIST_RE.match(head + b"X")
            flags = mm.group("flags").decode()
        else:
            mm = LIST_RE.match(item)
            check(mm is not None, "unparsable LIST line %r" % (item,))
            flags = mm.group("flags").decode()
            name = unquote(mm.group("name"))
        out.append((flags.split(), mutf7_decode(name.decode("utf-8"))))
    return out


def fetch_items(data):
    """imaplib FETCH data -> [(metadata bytes, literal bytes or None)]."""
    items = []
    for part in data:
        if isinstance(part, tuple):
            items.append([part[0], part[1]])
        elif part is None:
            continue
        elif part.startswith(b")") or part.startswith(b" ") and items and items[-1][1] is not None:
            items[-1][0] += part
        else:
            items.append([part, None])
    return [(bytes(a), b) for a, b in items]


MID_RE = re.compile(rb"^Message-ID:\s*(<[^>]+>)", re.I | re.M)


def flags_of(meta):
    mm = re.search(rb"FLAGS \(([^)]*)\)", meta)
    check(mm is not None, "no FLAGS in %r" % (meta,))
    return sorted(mm.group(1).decode().split())


def uid_of(meta):
    mm = re.search(rb"UID (\d+)", meta)
    check(mm is not None, "no UID in %r" % (meta,))
    return int(mm.group(1))


def uids_by_mid(m):
    """{Message-ID: UID} of the selected mailbox."""
    typ, data = m.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    check(typ == "OK", "UID FETCH: %r" % (data,))
    out = {}
    for meta, lit in fetch_items(data):
        if lit is None:
            continue
        mid = MID_RE.search(lit)
        check(mid is not None, "no Message-ID in %r" % (lit,))
        out[mid.group(1).decode()] = uid_of(meta)
    return out


def run_ops(m, ops):
    """Applies server-side changes described as JSON (see imap_clients.rs)."""
    for op in ops:
        kind, folder = op["op"], op["folder"]
        mailbox = quote(mutf7_encode(folder))
        if kind == "create":
            ok(m.create(mailbox), "CREATE " + folder)
            continue
        if kind == "append":
            typ, data = m.append(mailbox, op.get("flags") or None, None, op["message"].encode("utf-8"))
            check(typ == "OK" and b"[APPENDUID " in data[0], "APPEND to %s: %s %r" % (folder, typ, data))
            continue
        typ, data = m.select(mailbox)
        check(typ == "OK", "SELECT %s: %r" % (folder, data))
        by_mid = uids_by_mid(m)
        missing = [x for x in op["mids"] if x not in by_mid]
        check(not missing, "%s: not on the server in %s: %r" % (kind, folder, missing))
        uids = ",".join(str(by_mid[x]) for x in op["mids"])
        if kind == "flag":
            data = ok(m.uid("STORE", uids, "+FLAGS", "(%s)" % op["flags"]), "UID STORE")
            items = [d for d in data if d]
            check(len(items) == len(op["mids"]), "UID STORE %s answered %r" % (uids, data))
            for meta in items:
                check(op["flags"].encode() in meta, "UID STORE: %r lacks %s" % (meta, op["flags"]))
        elif kind == "move":
            typ, data = m.uid("MOVE", uids, quote(mutf7_encode(op["to"])))
            check(typ == "OK", "UID MOVE %s -> %s: %s %r" % (uids, op["to"], typ, data))
            expunged = m.response("EXPUNGE")[1]
            check(len([e for e in expunged if e]) == len(op["mids"]),
                  "UID MOVE: %d moved, EXPUNGE responses %r" % (len(op["mids"]), expunged))
        elif kind == "delete":
            ok(m.uid("STORE", uids, "+FLAGS.SILENT", "(\\Deleted)"), "UID STORE \\Deleted")
            data = ok(m.expunge(), "EXPUNGE")
            check(len([e for e in data if e]) == len(op["mids"]),
                  "EXPUNGE of %d messages answered %r" % (len(op["mids"]), data))
        else:
            fail("unknown op %r" % (kind,))
        ok(m.unselect(), "UNSELECT")


if __name__ == "__main__":
    # imaptest_common.py ops HOST PORT USER PASSWORD OPS.json
    m = connect(*sys.argv[2:6])
    if sys.argv[1] == "ops":
        with open(sys.argv[6], encoding="utf-8") as f:
            run_ops(m, json.load(f))
        print("ops done")
    else:
        fail("unknown command %r" % (sys.argv[1],))
    typ, data = m.logout()
    check(typ == "BYE", "LOGOUT answered %s %r" % (typ, data))
