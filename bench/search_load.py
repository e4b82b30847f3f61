#!/usr/bin/env python3
"""Loader and probe for bench/search.sh (issue 13).

load:   MESSAGES generated Vietnamese messages over SMTP, THREADS connections; prints the
        acceptance rate and the bytes sent.
size:   the SQLite file's size and the search index's share of it.
search: UID SEARCH latencies (p50/p99) for fixed queries, and the overall rate, as Python's
        imaplib sees them (Thunderbird's command, parsed by imaplib) and as a raw socket client
        sees them (command sent to tagged reply read, nothing parsed: imaplib's regular
        expressions over a 590 KB SEARCH line take the client 6-10 ms by themselves, measured
        against a canned reply).
settled: waits until the SQLite full-text index is one segment (the server settles it once
        quiet); prints the seconds waited.
maildir: the same messages (same seeds, same order of generation) written as Maildir files,
        for a peer (Dovecot) to index the same mailbox.
"""
import argparse
import base64
import imaplib
import quopri
import random
import socket
import smtplib
import sqlite3
import statistics
import threading
import time

WORDS = ("công văn quyết định thông báo kế hoạch báo cáo đề nghị hội nghị ủy ban nhân dân "
         "tỉnh huyện xã phòng sở tài chính giáo dục y tế nông nghiệp giao thông kinh phí "
         "dự toán năm tháng tuần họp giao ban kết luận chỉ đạo triển khai thực hiện "
         "hoà bình thuý khoẻ nguyễn nguyên trần lê phạm hoàng đức bình an dũng").split()
NAMES = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Văn Đức", "Phạm Thị Dung", "Hoàng Minh",
         "Nguyên Thị Hoa"]


def message(i, rng):
    subject = " ".join(rng.choice(WORDS) for _ in range(6)).capitalize()
    body = "\r\n".join(" ".join(rng.choice(WORDS) for _ in range(12)) for _ in range(30))
    body += f"\r\nSố {i}/QĐ-UBND\r\n"
    name = rng.choice(NAMES)
    enc = i % 3
    if enc == 0:
        cte, payload = "8bit", body
    elif enc == 1:
        cte = "base64"
        raw = base64.b64encode(body.encode()).decode()
        payload = "\r\n".join(raw[k:k + 76] for k in range(0, len(raw), 76))
    else:
        cte = "quoted-printable"
        lf = body.replace("\r\n", "\n").encode()
        payload = quopri.encodestring(lf).decode().replace("\n", "\r\n")
    head = (f"From: =?UTF-8?B?{base64.b64encode(name.encode()).decode()}?= <u{i % 50}@bench.test>\r\n"
            f"To: user1@bench.test\r\n"
            f"Subject: =?UTF-8?B?{base64.b64encode(subject.encode()).decode()}?=\r\n"
            f"Message-ID: <s{i}@bench.test>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: {cte}\r\n\r\n")
    return (head + payload + "\r\n").encode()


def generated(count, threads):
    """(i, message) in the order `load` generates them: thread t draws its messages
    t, t+threads, ... from random.Random(t)."""
    for t in range(threads):
        rng = random.Random(t)
        for i in range(t, count, threads):
            yield i, message(i, rng)


def maildir(args):
    import os
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(args.dir, sub), exist_ok=True)
    total = 0
    for i, msg in generated(args.count, args.threads):
        name = os.path.join(args.dir, "cur", f"{1700000000 + i}.M{i}P1.bench,S={len(msg)}:2,")
        with open(name, "wb") as f:
            f.write(msg)
        total += len(msg)
    print(f"maildir: {args.count} messages, {total} bytes")


def load(args):
    host, port = args.smtp.rsplit(":", 1)
    total = [0]
    lock = threading.Lock()

    def worker(t):
        rng = random.Random(t)
        s = smtplib.SMTP(host, int(port), timeout=120)
        sent = 0
        on_connection = 0
        for i in range(t, args.count, args.threads):
            msg = message(i, rng)
            if on_connection == 50:
                # Servers limit messages per connection (govmail: smtp.max_messages_per_connection).
                s.quit()
                s = smtplib.SMTP(host, int(port), timeout=120)
                on_connection = 0
            s.sendmail("sender@example.org", [args.to], msg)
            on_connection += 1
            sent += len(msg)
        s.quit()
        with lock:
            total[0] += sent

    start = time.monotonic()
    threads = [threading.Thread(target=worker, args=(t,)) for t in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.monotonic() - start
    print(f"smtp: {args.count} messages in {secs:.1f} s = {args.count / secs:.0f} msg/s; "
          f"{total[0]} bytes")


def size(args):
    import os
    db = sqlite3.connect(args.db)
    total = os.path.getsize(args.db)
    try:
        rows = db.execute("SELECT name, SUM(pgsize) FROM dbstat WHERE name LIKE 'search%' "
                          "GROUP BY name").fetchall()
        index = sum(r[1] for r in rows)
        detail = ", ".join(f"{n} {b}" for n, b in rows)
    except sqlite3.Error:
        index = 0
        detail = "unknown (this SQLite has no dbstat)"
    blob_bytes = db.execute("SELECT SUM(size) FROM messages").fetchone()[0] or 0
    print(f"size: database {total} bytes; index {index} bytes ({detail}); message bytes "
          f"{blob_bytes}; index / message bytes = {index / max(blob_bytes, 1):.2f}")


# The generated vocabulary is small (every common word is in nearly every message), so the
# first queries hit most of the mailbox; the "rare" ones look for a message's own number, as a
# user looks for one công văn.
QUERIES = [
    ("one word, no marks", 'SUBJECT "nguyen"'),
    ("one word, marks", 'BODY "quyết"'),
    ("two words, no marks", 'TEXT "ket luan"'),
    ("two words, marks", 'BODY "giao ban"'),
    ("OR subject/from", 'OR SUBJECT "binh" FROM "binh"'),
    ("nowhere", 'SUBJECT "nosuchword"'),
    ("one word, rare", 'BODY "54321"'),
    ("two words, rare, marks", 'BODY "số 54321"'),
    ("two words, rare, no marks", 'TEXT "so 54321"'),
]


class RawImap:
    """An IMAP connection that only sends commands and reads until the tagged reply."""

    def __init__(self, host, port, user, password):
        self.sock = socket.create_connection((host, port))
        self.file = self.sock.makefile("rb")
        self.file.readline()
        self.n = 0
        self.command(f"LOGIN {user} {password}".encode())
        self.command(b"SELECT INBOX")

    def command(self, text):
        """The untagged lines of the reply; raises unless the tagged reply is OK."""
        self.n += 1
        tag = b"r%d" % self.n
        self.sock.sendall(tag + b" " + text + b"\r\n")
        lines = []
        while True:
            line = self.file.readline()
            if not line:
                raise RuntimeError("connection closed")
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError(line)
                return lines
            lines.append(line)


def percentiles(times):
    times = sorted(times)
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def search(args):
    host, port = args.imap.rsplit(":", 1)
    m = imaplib.IMAP4(host, int(port))
    m.login(args.user, args.password)
    m.select("INBOX")
    raw = RawImap(host, int(port), args.user, args.password)
    all_times = []
    for label, query in QUERIES:
        times = []
        hits = 0
        for _ in range(args.repeats):
            start = time.monotonic()
            typ, data = m._simple_command("UID", "SEARCH", "CHARSET", "UTF-8",
                                          *[query.encode("utf-8")])
            _, found = m._untagged_response(typ, data, "SEARCH")
            times.append((time.monotonic() - start) * 1000)
            hits = len((found[-1] or b"").split())
        raw_times = []
        for _ in range(args.repeats):
            start = time.monotonic()
            lines = raw.command(b"UID SEARCH CHARSET UTF-8 " + query.encode("utf-8"))
            raw_times.append((time.monotonic() - start) * 1000)
            raw_hits = sum(l.count(b" ") - 1 for l in lines if l.startswith(b"* SEARCH"))
            if raw_hits != hits:
                raise RuntimeError(f"{label}: {raw_hits} hits raw, {hits} through imaplib")
        all_times.extend(times)
        p50, p99 = percentiles(times)
        raw50, raw99 = percentiles(raw_times)
        print(f"{args.label} search {label:22} {hits:7} hits  p50 {p50:8.1f} ms  "
              f"p99 {p99:8.1f} ms  raw p50 {raw50:8.1f} ms  p99 {raw99:8.1f} ms")
    rate = len(all_times) / (sum(all_times) / 1000)
    print(f"{args.label} search rate: {rate:.1f} searches/s over {len(all_times)} searches")
    raw.command(b"LOGOUT")
    m.logout()


def settled(args):
    start = time.monotonic()
    while True:
        db = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
        try:
            segments = db.execute("SELECT COUNT(DISTINCT segid) FROM search_fts_idx").fetchone()[0]
        finally:
            db.close()
        waited = time.monotonic() - start
        if segments <= 1:
            print(f"index settled (1 segment) after {waited:.0f} s")
            return
        if waited > args.timeout:
            raise SystemExit(f"index not settled after {waited:.0f} s: {segments} segments")
        time.sleep(2)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("load")
    a.add_argument("--smtp", required=True)
    a.add_argument("--to", required=True)
    a.add_argument("--count", type=int, required=True)
    a.add_argument("--threads", type=int, default=4)
    a = sub.add_parser("size")
    a.add_argument("--db", required=True)
    a = sub.add_parser("search")
    a.add_argument("--imap", required=True)
    a.add_argument("--user", required=True)
    a.add_argument("--password", required=True)
    a.add_argument("--repeats", type=int, default=50)
    a.add_argument("--label", default="govmail")
    a = sub.add_parser("settled")
    a.add_argument("--db", required=True)
    a.add_argument("--timeout", type=int, default=600)
    a = sub.add_parser("maildir")
    a.add_argument("--dir", required=True)
    a.add_argument("--count", type=int, required=True)
    a.add_argument("--threads", type=int, default=4)
    args = p.parse_args()
    {"load": load, "size": size, "search": search, "settled": settled,
     "maildir": maildir}[args.cmd](args)


if __name__ == "__main__":
    main()
