#!/usr/bin/env python3
"""connstorm.py - open and close connections to a PostgreSQL port as fast
as possible, for the exhaustion tests.

Usage: connstorm.py PORT SECONDS MODE [USER DB]

MODE "tcp": connect and close at once (no startup packet);
MODE "login": StartupMessage as USER to DB (trust auth), read until
ReadyForQuery or an ErrorResponse, send Terminate, close.

Prints one line: "attempts N ok N refused N errors N rate N" where ok are
logins that reached ReadyForQuery (tcp: connects), refused are clear
ErrorResponses from the server (their SQLSTATEs counted in a second line
"sqlstates S=N ..."), errors are anything else (reset, timeout, close
without a message).
"""
import socket
import struct
import sys
import time


def startup(user, db):
    body = struct.pack("!hh", 3, 0) + b"user\0" + user.encode() + b"\0database\0" + db.encode() + b"\0\0"
    return struct.pack("!i", len(body) + 4) + body


def login(port, pkt):
    """'ok', ('refused', sqlstate) or 'error'."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(pkt)
        buf = b""
        while True:
            while len(buf) >= 5:
                t = buf[:1]
                (ln,) = struct.unpack("!i", buf[1:5])
                if len(buf) < 1 + ln:
                    break
                body, buf = buf[5:1 + ln], buf[1 + ln:]
                if t == b"Z":
                    s.sendall(b"X\0\0\0\4")
                    return "ok"
                if t == b"E":
                    code = "?????"
                    for f in body.split(b"\0"):
                        if f[:1] == b"C":
                            code = f[1:].decode()
                    return ("refused", code)
            chunk = s.recv(65536)
            if not chunk:
                return "error"
            buf += chunk
    finally:
        s.close()


def main():
    port, seconds, mode = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    pkt = startup(sys.argv[4], sys.argv[5]) if mode == "login" else None
    n = ok = refused = errors = 0
    codes = {}
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        n += 1
        try:
            if mode == "tcp":
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                s.close()
                ok += 1
                continue
            r = login(port, pkt)
        except OSError:
            r = "error"
        if r == "ok":
            ok += 1
        elif r == "error":
            errors += 1
        else:
            refused += 1
            codes[r[1]] = codes.get(r[1], 0) + 1
    dt = time.monotonic() - t0
    print("attempts %d ok %d refused %d errors %d rate %d" % (n, ok, refused, errors, n / dt))
    print("sqlstates " + " ".join("%s=%d" % kv for kv in sorted(codes.items())))


if __name__ == "__main__":
    main()
