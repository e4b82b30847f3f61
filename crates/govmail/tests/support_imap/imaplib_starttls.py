"""Python imaplib on the plain IMAP port: no LOGIN/AUTHENTICATE before STARTTLS, then STARTTLS,
LOGIN, SELECT, LOGOUT.

usage: imaplib_starttls.py HOST IMAP_PORT USER PASSWORD
"""
import imaplib
import sys

from imaptest_common import check, tls_context

host, port, user, password = sys.argv[1:5]

m = imaplib.IMAP4(host, int(port), timeout=30)
caps = m.capabilities
check("STARTTLS" in caps, "no STARTTLS on the plain port: %r" % (caps,))
check("LOGINDISABLED" in caps, "no LOGINDISABLED before STARTTLS: %r" % (caps,))
check("AUTH=PLAIN" not in caps, "AUTH=PLAIN offered in cleartext: %r" % (caps,))
try:
    m.login(user, password)
    sys.exit("FAILED: LOGIN accepted in cleartext")
except imaplib.IMAP4.error as e:
    print("cleartext LOGIN refused:", e)
    check("PRIVACYREQUIRED" in str(e), "cleartext LOGIN refused without [PRIVACYREQUIRED]: %s" % e)
check(m.state == "NONAUTH", "state after refused LOGIN: %s" % m.state)
try:
    m.authenticate("PLAIN", lambda _: ("\0%s\0%s" % (user, password)).encode())
    sys.exit("FAILED: AUTHENTICATE PLAIN accepted in cleartext")
except imaplib.IMAP4.error as e:
    print("cleartext AUTHENTICATE refused:", e)
try:
    m.select("INBOX")
    sys.exit("FAILED: SELECT accepted before authentication")
except imaplib.IMAP4.error:
    pass

typ, resp = m.starttls(ssl_context=tls_context())
check(typ == "OK", "STARTTLS: %s %r" % (typ, resp))
caps = m.capabilities
check("STARTTLS" not in caps, "STARTTLS still offered after STARTTLS: %r" % (caps,))
check("LOGINDISABLED" not in caps and "AUTH=PLAIN" in caps, "capabilities under TLS: %r" % (caps,))
typ, resp = m.login(user, password)
check(typ == "OK", "LOGIN under TLS: %s %r" % (typ, resp))
typ, resp = m.select("INBOX")
check(typ == "OK", "SELECT INBOX: %s %r" % (typ, resp))
typ, resp = m.logout()
check(typ == "BYE", "LOGOUT: %s %r" % (typ, resp))
print("ok")
