"""One LDAP load run: CLIENTS threads, each with its own bound connection, each running
SEARCHES name-prefix searches (cn=PREFIX*) with prefixes drawn from Vietnamese given/family
names written without diacritics (what a user types); prints searches/s, p50, p99 (ms).
Usage: ldap_load.py LABEL HOST PORT BIND_DN PASSWORD BASE CLIENTS SEARCHES"""
import random, sys, threading, time
from ldap3 import Server, Connection, SUBTREE

label, host, port, dn, password, base = sys.argv[1:7]
clients, searches = int(sys.argv[7]), int(sys.argv[8])
PREFIXES = ["nguy", "tra", "le", "pha", "hoa", "ngoc", "thanh", "minh", "duc", "tuye", "lan", "son"]
latencies, lock = [], threading.Lock()

def worker(seed):
    rnd = random.Random(seed)
    conn = Connection(Server(host, port=int(port), get_info=None), user=dn, password=password, auto_bind=True)
    mine = []
    for _ in range(searches):
        f = f"(cn={rnd.choice(PREFIXES)}*)"
        t = time.perf_counter()
        conn.search(base, f, search_scope=SUBTREE, attributes=["cn", "mail"], size_limit=50)
        mine.append(time.perf_counter() - t)
    conn.unbind()
    with lock:
        latencies.extend(mine)

threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
start = time.perf_counter()
for t in threads: t.start()
for t in threads: t.join()
elapsed = time.perf_counter() - start
latencies.sort()
p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
print(f"{label}: {len(latencies) / elapsed:.0f} searches/s, p50 {p(0.50):.2f} ms, p99 {p(0.99):.2f} ms")
