#!/usr/bin/env python3
"""idle_clients.py - open N idle PostgreSQL client connections and hold them.

Usage: idle_clients.py HOST PORT USER DBNAME N

Each connection does the v3 startup handshake (trust auth, so no password
exchange is expected) and waits for ReadyForQuery.  When all N are ready it
prints "ready N" (or "ready K failed F <first error>") on stdout, flushes, and
then holds every socket open until SIGTERM (or Ctrl-C) arrives.
Used by bench.sh to measure a pooler's RSS per idle client.  Raw sockets keep
the client side light (no libpq, no extra processes).
"""
import signal
import socket
import struct
import sys
import time


def startup(host, port, user, db, timeout=30.0):
    s = socket.create_connection((host, port), timeout=timeout)
    params = b""
    for k, v in (("user", user), ("database", db),
                 ("application_name", "idle_clients")):
        params += k.encode() + b"\0" + v.encode() + b"\0"
    params += b"\0"
    body = struct.pack("!I", 196608) + params
    s.sendall(struct.pack("!I", len(body) + 4) + body)
    buf = b""
    deadline = time.monotonic() + timeout
    while True:
        # parse complete messages
        while len(buf) >= 5:
            typ = buf[0:1]
            ln = struct.unpack("!I", buf[1:5])[0]
            if len(buf) < 1 + ln:
                break
            payload = buf[5:1 + ln]
            buf = buf[1 + ln:]
            if typ == b"Z":
                s.settimeout(None)
                return s
            if typ == b"E":
                fields = [f[1:].decode(errors="replace")
                          for f in payload.split(b"\0") if f]
                s.close()
                raise RuntimeError("ErrorResponse: " + "; ".join(fields))
            if typ == b"R":
                code = struct.unpack("!I", payload[:4])[0]
                if code != 0:
                    s.close()
                    raise RuntimeError("server asks for auth method %d "
                                       "(trust expected)" % code)
        if time.monotonic() > deadline:
            s.close()
            raise RuntimeError("timeout waiting for ReadyForQuery")
        chunk = s.recv(65536)
        if not chunk:
            s.close()
            raise RuntimeError("connection closed during startup")
        buf += chunk


def main():
    if len(sys.argv) != 6:
        sys.stderr.write(__doc__)
        return 2
    host, port, user, db, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], \
        sys.argv[4], int(sys.argv[5])
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    socks, failed, first_err = [], 0, ""
    for _ in range(n):
        try:
            socks.append(startup(host, port, user, db))
        except Exception as e:  # noqa: BLE001 - report, keep going
            failed += 1
            if not first_err:
                first_err = str(e).replace("\n", " ")
            if failed >= 20:  # the pooler is clearly refusing; stop early
                break
    if failed:
        print("ready %d failed %d %s" % (len(socks), failed, first_err),
              flush=True)
    else:
        print("ready %d" % len(socks), flush=True)
    try:
        while True:               # hold until SIGTERM
            time.sleep(3600)
    except (KeyboardInterrupt, SystemExit):
        pass
    for s in socks:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
