#!/usr/bin/env python3
"""tools/fuzz-seeds-net.py: (re)make tests/fuzz/corpus/fuzz_net, the seeds of
the net/ receive-path target (tests/fuzz/fuzz_net.c; input [u8 flags][frame]):
ARP request and reply, ICMP echo on- and off-link, UDP echo, a broadcast
datagram, IPv6, and DHCP OFFER/ACK/NAK (one with option 52 overload) for the
DHCP stack, with and without a canned OFFER first (flag bit 6) or a network
change first (bit 7). Frames written from RFC 826/791/792/768/2131 layouts."""
import os, struct

D = "tests/fuzz/corpus/fuzz_net"
os.makedirs(D, exist_ok=True)
for f in os.listdir(D):
    os.unlink(os.path.join(D, f))


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


nic = bytes.fromhex("00155d000002")
peer = bytes.fromhex("00155d000001")
bc = b"\xff" * 6
g, p, far = bytes([192, 0, 2, 2]), bytes([192, 0, 2, 1]), bytes([198, 51, 100, 7])


def eth(dst, t):
    return dst + peer + struct.pack("!H", t)


def ip(src, dst, proto, payload):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0, src, dst)
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload


def udp(src, dst, sp, dp, data, ck=True):
    u = struct.pack("!HHHH", sp, dp, 8 + len(data), 0) + data
    if ck:
        c = csum(src + dst + struct.pack("!BBH", 0, 17, len(u)) + u) or 0xFFFF
        u = u[:6] + struct.pack("!H", c) + u[8:]
    return u


def w(name, flags, frame):
    with open(os.path.join(D, "seed-" + name), "wb") as f:
        f.write(bytes([flags]) + frame)


w("arp-request", 0, eth(bc, 0x806) + struct.pack("!HHBBH6s4s6s4s", 1, 0x800, 6, 4, 1, peer, p, b"\0" * 6, g))
w("arp-reply", 0, eth(nic, 0x806) + struct.pack("!HHBBH6s4s6s4s", 1, 0x800, 6, 4, 2, peer, p, nic, g))
icmp = struct.pack("!BBHHH", 8, 0, 0, 1, 1) + b"abcdefgh" * 4
icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
w("icmp-echo", 0, eth(nic, 0x800) + ip(p, g, 1, icmp))
w("icmp-echo-offlink", 0, eth(nic, 0x800) + ip(far, g, 1, icmp))
w("udp-echo", 0, eth(nic, 0x800) + ip(p, g, 17, udp(p, g, 4000, 7, b"hello world")))
w("udp-bcast", 0, eth(bc, 0x800) + ip(p, b"\xff" * 4, 17, udp(p, b"\xff" * 4, 137, 137, b"x" * 20)))
w("ipv6", 0, eth(bytes.fromhex("333300000001"), 0x86DD) + b"\x60" + b"\0" * 39)


def bootp(t, yi, opts):
    b = struct.pack("!BBBBIHH4s4s4s4s16s", 2, 1, 6, 0, 0, 0, 0x8000, b"\0" * 4, yi, b"\0" * 4, b"\0" * 4, nic + b"\0" * 10)
    b += b"\0" * 192 + bytes([99, 130, 83, 99]) + bytes([53, 1, t]) + opts + b"\xff"
    return b.ljust(300, b"\0")


std = (bytes([54, 4]) + p + bytes([51, 4, 0, 0, 0x0E, 0x10, 1, 4, 255, 255, 255, 0, 3, 4]) + p + bytes([6, 4]) + p
       + bytes([58, 4, 0, 0, 7, 8, 59, 4, 0, 0, 12, 0x4E, 26, 2, 5, 220]))


def dhcp_frame(b):
    return eth(bc, 0x800) + ip(p, b"\xff" * 4, 17, udp(p, b"\xff" * 4, 67, 68, b, False))


frames = {
    "offer": bootp(2, g, std),
    "ack": bootp(5, g, std),
    "nak": bootp(6, b"\0" * 4, bytes([54, 4]) + p),
}
ov = bytearray(bootp(5, g, bytes([54, 4]) + p + bytes([52, 1, 3])))
ov[108:115] = bytes([51, 4, 0, 0, 1, 0, 255])
ov[44:51] = bytes([3, 4]) + p + bytes([255])
frames["ack-overload"] = bytes(ov)
for name, b in frames.items():
    w("dhcp-" + name, 0x17, dhcp_frame(b))  # DHCP stack, checksums vouched for, xid patched
    if name != "offer":
        w("dhcp-" + name + "-after-offer", 0x57, dhcp_frame(b))
w("dhcp-offer-after-change", 0x97, dhcp_frame(frames["offer"]))
