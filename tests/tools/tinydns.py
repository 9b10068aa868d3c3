#!/usr/bin/env python3
"""tinydns.py - a tiny DNS server on 127.0.0.1 for the tests (UDP only).

Usage: tinydns.py PORT ZONEFILE [READYFILE]

ZONEFILE has lines "NAME ADDRESS" (IPv4 or IPv6; a name may have several
lines) and "ZONE SOA SERIAL", and is read again for every query, so a test
can change an address (or a serial) while the server runs.  An SOA
question for a listed zone gets its serial.  A and AAAA questions for a listed name get its
addresses of that family (TTL 1); any other listed-name question gets an
empty answer; an unlisted name gets NXDOMAIN.  READYFILE is created once
the socket is bound.  Stops after 10 minutes.
"""
import ipaddress
import socket
import struct
import sys
import time


def read_zone(path):
    zone, soa = {}, {}
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[1] == "SOA":
                    soa[parts[0].lower().rstrip(".")] = int(parts[2])
                elif len(parts) >= 2 and not parts[0].startswith("#"):
                    zone.setdefault(parts[0].lower().rstrip("."), []).append(ipaddress.ip_address(parts[1]))
    except OSError:
        pass
    return zone, soa


def encode_name(name):
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"


def parse_question(data):
    pos, labels = 12, []
    while True:
        n = data[pos]
        pos += 1
        if n == 0:
            break
        labels.append(data[pos:pos + n].decode("ascii", "replace"))
        pos += n
    qtype, qclass = struct.unpack("!HH", data[pos:pos + 4])
    return ".".join(labels).lower(), qtype, data[12:pos + 4]


def answer(data, zones):
    zone, soa = zones
    qid, flags = struct.unpack("!HH", data[:4])
    name, qtype, question = parse_question(data)
    rd = flags & 0x0100
    if qtype == 6 and name in soa:
        rdata = encode_name("ns." + name) + encode_name("admin." + name) + \
            struct.pack("!IIIII", soa[name], 60, 60, 600, 1)
        return struct.pack("!HHHHHH", qid, 0x8180 | rd, 1, 1, 0, 0) + question + \
            struct.pack("!HHHIH", 0xC00C, 6, 1, 1, len(rdata)) + rdata
    addrs = zone.get(name)
    if addrs is None:
        return struct.pack("!HHHHHH", qid, 0x8180 | rd | 3, 1, 0, 0, 0) + question
    want = {1: 4, 28: 6}.get(qtype)
    rrs = [a for a in addrs if a.version == want]
    out = struct.pack("!HHHHHH", qid, 0x8180 | rd, 1, len(rrs), 0, 0) + question
    for a in rrs:
        out += struct.pack("!HHHIH", 0xC00C, qtype, 1, 1, len(a.packed)) + a.packed
    return out


def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    s.settimeout(1.0)
    if len(sys.argv) > 3:
        open(sys.argv[3], "w").close()
    deadline = time.time() + 600
    while time.time() < deadline:
        try:
            data, peer = s.recvfrom(4096)
        except socket.timeout:
            continue
        try:
            s.sendto(answer(data, read_zone(path)), peer)
        except (IndexError, struct.error, UnicodeError):
            pass


if __name__ == "__main__":
    main()
