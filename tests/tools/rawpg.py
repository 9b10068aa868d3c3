#!/usr/bin/env python3
"""rawpg.py - speak the PostgreSQL wire protocol by hand, well-formed or not.

Usage: rawpg.py [--host H] [--port P] [--unix DIR] [--timeout S] [--bind ADDR] STEP...

--bind ADDR connects from that local address (e.g. 127.0.0.2: a client
"from another host" on the loopback network).

Runs the steps in order on one connection and prints one line per thing it
receives, for the test scripts to match:

    R <code>                 Authentication message (0 = OK)
    S <name>=<value>         ParameterStatus
    K                        BackendKeyData
    Z <status>               ReadyForQuery (I, T or E)
    E <SQLSTATE> <message>   ErrorResponse
    N <SQLSTATE> <message>   NoticeResponse
    D <col1>|<col2>...       DataRow (text)
    C <tag>                  CommandComplete
    X <type> <len>           any other message
    BYTE <c>                 the one-byte answer to SSLRequest/GSSENCRequest
    CLOSED                   the peer closed the connection
    TIMEOUT                  nothing (more) arrived within --timeout seconds

Steps:
    startup:USER:DB[:MAJOR.MINOR]  StartupMessage (default protocol 3.0)
    raw:HEX                        send these bytes as they are
    query:SQL                      a simple-protocol Query message
    pipeline:SQL&&&SQL...         several Query messages in one send()
    xpipeline:SQL&&&SQL...        per statement Parse/Bind/Describe/Execute/
                                   Sync (unnamed), all in one send()
    ssl | gss                      SSLRequest / GSSENCRequest, then read 1 byte
    cancel:PID:KEY                 CancelRequest (on this connection)
    auth:PASSWORD                  answer cleartext, MD5 or SCRAM-SHA-256
                                   requests until AuthenticationOk or an error
                                   (the user is the one of the last startup)
    read                           read until ReadyForQuery, close or timeout
    readall                        read until close or timeout
    sleep:SECONDS                  pause
    close                          close the socket (abruptly) and stop
"""
import base64
import hashlib
import hmac
import os
import socket
import struct
import sys
import time


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Conn:
    def __init__(self, args):
        self.timeout = args["timeout"]
        if args["unix"]:
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.s.connect("%s/.s.PGSQL.%d" % (args["unix"], args["port"]))
        else:
            src = (args["bind"], 0) if args.get("bind") else None
            self.s = socket.create_connection((args["host"], args["port"]), timeout=10,
                                              source_address=src)
        self.s.settimeout(self.timeout)
        self.buf = b""
        self.closed = False

    def send(self, data):
        try:
            self.s.sendall(data)
        except OSError as e:
            out("SENDERR %s" % e.__class__.__name__)

    def fill(self, n):
        """Make self.buf hold n bytes; False on close/timeout (printed)."""
        while len(self.buf) < n:
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                out("TIMEOUT")
                return False
            except OSError:
                chunk = b""
            if not chunk:
                self.closed = True
                out("CLOSED")
                return False
            self.buf += chunk
        return True

    def read_byte(self):
        if self.fill(1):
            out("BYTE %s" % self.buf[:1].decode("latin-1"))
            self.buf = self.buf[1:]

    def read_msg(self):
        if not self.fill(5):
            return None
        t = self.buf[:1].decode("latin-1")
        (ln,) = struct.unpack("!i", self.buf[1:5])
        if ln < 4 or ln > 64 * 1024 * 1024:
            out("BADLEN %s %d" % (t, ln))
            self.closed = True
            return None
        if not self.fill(1 + ln):
            return None
        body = self.buf[5:1 + ln]
        self.buf = self.buf[1 + ln:]
        show(t, body)
        return t

    def read(self, until_z=True):
        while not self.closed:
            t = self.read_msg()
            if t is None or (until_z and t == "Z"):
                return


def msg(t, body):
    if isinstance(t, str):
        t = t.encode()
    return t + struct.pack("!i", len(body) + 4) + body


def extended(sql):
    """One unnamed statement: Parse, Bind (no parameters, text results),
    Describe portal, Execute, Sync."""
    return (msg("P", b"\0" + sql.encode() + b"\0" + struct.pack("!h", 0))
            + msg("B", b"\0\0" + struct.pack("!hhh", 0, 0, 0))
            + msg("D", b"P\0") + msg("E", b"\0" + struct.pack("!i", 0)) + msg("S", b""))


def auth(c, user, password):
    """Answer authentication requests; prints every message it reads."""
    nonce = cfirst = None
    while not c.closed:
        if not c.fill(5):
            return
        t = c.buf[:1]
        (ln,) = struct.unpack("!i", c.buf[1:5])
        if not c.fill(1 + ln):
            return
        body = c.buf[5:1 + ln]
        c.buf = c.buf[1 + ln:]
        show(t.decode("latin-1"), body)
        if t == b"E":
            c.read(True)
            return
        if t != b"R":
            continue
        (code,) = struct.unpack("!i", body[:4])
        if code == 0:
            return
        if code == 3:
            c.send(msg(b"p", password.encode() + b"\0"))
        elif code == 5:
            inner = hashlib.md5((password + user).encode()).hexdigest()
            outer = hashlib.md5(inner.encode() + body[4:8]).hexdigest()
            c.send(msg(b"p", b"md5" + outer.encode() + b"\0"))
        elif code == 10:
            nonce = base64.b64encode(os.urandom(18)).decode()
            cfirst = "n=,r=" + nonce
            data = ("n,," + cfirst).encode()
            c.send(msg(b"p", b"SCRAM-SHA-256\0" + struct.pack("!i", len(data)) + data))
        elif code == 11:
            sfirst = body[4:].decode()
            attrs = dict(kv.split("=", 1) for kv in sfirst.split(","))
            salt = base64.b64decode(attrs["s"])
            salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, int(attrs["i"]))
            ckey = hmac.new(salted, b"Client Key", "sha256").digest()
            skey = hashlib.sha256(ckey).digest()
            final_wo = "c=biws,r=" + attrs["r"]
            amsg = ",".join([cfirst, sfirst, final_wo]).encode()
            sig = hmac.new(skey, amsg, "sha256").digest()
            proof = bytes(a ^ b for a, b in zip(ckey, sig))
            c.send(msg(b"p", (final_wo + ",p=" + base64.b64encode(proof).decode()).encode()))
        elif code == 12:
            pass
        else:
            out("UNSUPPORTED auth %d" % code)
            return


def fields(body):
    f = {}
    for part in body.split(b"\0"):
        if part:
            f[part[:1].decode("latin-1")] = part[1:].decode("utf-8", "replace")
    return f


def show(t, body):
    if t == "R":
        out("R %d" % struct.unpack("!i", body[:4])[0])
    elif t == "S":
        k, v = body.split(b"\0")[:2]
        out("S %s=%s" % (k.decode(), v.decode("utf-8", "replace")))
    elif t == "K":
        out("K")
    elif t == "Z":
        out("Z %s" % body.decode("latin-1"))
    elif t in "EN":
        f = fields(body)
        out("%s %s %s" % (t, f.get("C", "?????"), f.get("M", "").replace("\n", " ")))
    elif t == "D":
        (n,) = struct.unpack("!h", body[:2])
        pos, cols = 2, []
        for _ in range(n):
            (ln,) = struct.unpack("!i", body[pos:pos + 4])
            pos += 4
            if ln < 0:
                cols.append("NULL")
            else:
                cols.append(body[pos:pos + ln].decode("utf-8", "replace"))
                pos += ln
        out("D " + "|".join(cols))
    elif t == "C":
        out("C " + body.rstrip(b"\0").decode())
    else:
        out("X %s %d" % (t, len(body) + 4))


def startup(user, db, proto="3.0"):
    major, minor = (int(x) for x in proto.split("."))
    payload = struct.pack("!hh", major, minor)
    for k, v in (("user", user), ("database", db)):
        payload += k.encode() + b"\0" + v.encode() + b"\0"
    payload += b"\0"
    return struct.pack("!i", len(payload) + 4) + payload


def main(argv):
    args = {"host": "127.0.0.1", "port": 6432, "unix": None, "timeout": 5.0}
    steps = []
    user = ""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--host", "--port", "--unix", "--timeout", "--bind"):
            v = argv[i + 1]
            args[a[2:]] = int(v) if a == "--port" else float(v) if a == "--timeout" else v
            i += 2
        elif a in ("-h", "--help"):
            sys.stdout.write(__doc__)
            return 0
        else:
            steps.append(a)
            i += 1
    # "cancel PID KEY" as three words (a connection that only cancels)
    if steps[:1] == ["cancel"] and len(steps) == 3:
        steps = ["cancel:%s:%s" % (steps[1], steps[2])]
    try:
        c = Conn(args)
    except OSError as e:
        out("CONNERR %s" % e)
        return 2
    for st in steps:
        if c.closed:
            break
        name, _, rest = st.partition(":")
        if name == "startup":
            p = rest.split(":")
            user = p[0]
            c.send(startup(p[0], p[1], p[2] if len(p) > 2 else "3.0"))
        elif name == "auth":
            auth(c, user, rest)
        elif name == "raw":
            c.send(bytes.fromhex(rest))
        elif name == "query":
            body = rest.encode() + b"\0"
            c.send(b"Q" + struct.pack("!i", len(body) + 4) + body)
        elif name == "pipeline":
            c.send(b"".join(msg("Q", q.encode() + b"\0") for q in rest.split("&&&")))
        elif name == "xpipeline":
            c.send(b"".join(extended(q) for q in rest.split("&&&")))
        elif name == "ssl":
            c.send(struct.pack("!ii", 8, 80877103))
            c.read_byte()
        elif name == "gss":
            c.send(struct.pack("!ii", 8, 80877104))
            c.read_byte()
        elif name == "cancel":
            pid, key = (int(x) for x in rest.split(":"))
            c.send(struct.pack("!iiii", 16, 80877102, pid, key))
        elif name == "read":
            c.read(True)
        elif name == "readall":
            c.read(False)
        elif name == "sleep":
            time.sleep(float(rest))
        elif name == "close":
            c.s.close()
            c.closed = True
        else:
            out("USAGE unknown step %s" % st)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
