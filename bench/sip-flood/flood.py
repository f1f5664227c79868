#!/usr/bin/env python3
"""Sends the acceptance flood of tests/dialin/flood.rs from 127.0.0.9: DATAGRAMS
datagrams in SECONDS seconds, 20 every 10 ms, cycling through scanners' OPTIONS, INVITE
and REGISTER, an outsider's INVITE and REGISTER, a broken Via and two kinds of garbage.
Loopback only; bounded in count and time.

    flood.py HOST:PORT [DATAGRAMS] [SECONDS]
"""
import socket
import sys
import time


def datagram(i, frm):
    def head(method, agent):
        return (
            f"{method} sip:100@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {frm};branch=z9hG4bK-flood-{i};rport\r\n"
            "Max-Forwards: 70\r\n"
            f'From: "100" <sip:100@127.0.0.9>;tag=f{i}\r\n'
            "To: <sip:100@127.0.0.1>\r\n"
            f"Call-ID: flood-{i}@127.0.0.9\r\n"
            f"CSeq: 1 {method}\r\n"
            f"Contact: <sip:100@{frm}>\r\n"
            f"User-Agent: {agent}\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()

    kind = i % 8
    if kind == 0:
        return head("OPTIONS", "friendly-scanner")
    if kind == 1:
        return head("INVITE", "SIPVicious 0.3.4")
    if kind == 2:
        return head("REGISTER", "sipcli/v1.8")
    if kind == 3:
        return head("INVITE", "Linphone/5.2")
    if kind == 4:
        return head("REGISTER", "Linphone/5.2")
    if kind == 5:
        return b"INVITE sip:100@127.0.0.1 SIP/2.0\r\nVia: \x01\x02\r\n\r\n"
    if kind == 6:
        return bytes(((k * 31 + i) & 0xFF) for k in range(200))
    return b"\x80\x00\x12\x34not sip, nor rtp"


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    target = (host, int(port))
    if not host.startswith("127."):
        sys.exit("loopback targets only")
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.9", 0))
    frm = "%s:%d" % sock.getsockname()
    batch = 20
    batches = count // batch
    period = seconds / batches
    start = time.monotonic()
    for b in range(batches):
        for k in range(batch):
            sock.sendto(datagram(b * batch + k, frm), target)
        delay = start + period * (b + 1) - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    print("sent %d datagrams in %.2f s" % (batches * batch, time.monotonic() - start))


if __name__ == "__main__":
    main()
