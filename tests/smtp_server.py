#!/usr/bin/python3
"""A real SMTP server for pinbridge's mail tests, built on aiosmtpd (Debian's
python3-aiosmtpd).

It listens on 127.0.0.1 only and appends one JSON line per event to --log:
  {"event": "received", ...}   the DATA phase completed (before any answer);
  {"event": "delivered", ...}  answered 250;
  {"event": "deferred", ...}   answered 451;
  {"event": "rejected", ...}   answered 550;
  {"event": "stalled", ...}    DATA completed, and no answer will come.
Each line holds the envelope, the Message-ID, the subject and the decoded text and
HTML parts. When it listens it prints "ready PORT" on standard output.

Behaviours for the tests:
  --defer-once         answer 451 to the first attempt of each Message-ID;
  --reject SUBSTRING   answer 550 to messages for recipients containing SUBSTRING;
  --stall-first        never answer the first message's DATA phase;
  --tls-cert/--tls-key offer STARTTLS with this certificate and require it;
  --light              record only the event and Message-ID (for throughput runs).
"""

import argparse
import asyncio
import email
import email.policy
import json
import re
import ssl
import sys

from aiosmtpd.smtp import SMTP


class Recorder:
    def __init__(self, args):
        self.args = args
        self.log = open(args.log, "a", encoding="utf-8")
        self.deferred = set()
        self.stalled = False

    def write(self, event, envelope, message):
        text = html = None
        for part in message.walk():
            if part.get_content_type() == "text/plain" and text is None:
                text = part.get_content()
            elif part.get_content_type() == "text/html" and html is None:
                html = part.get_content()
        record = {
            "event": event,
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "message_id": message.get("Message-ID"),
            "subject": message.get("Subject"),
            "from": message.get("From"),
            "to": message.get("To"),
            "content_type": message.get_content_type(),
            "text": text,
            "html": html,
        }
        self.log.write(json.dumps(record) + "\n")
        self.log.flush()

    async def handle_DATA(self, server, session, envelope):
        if self.args.light:
            found = re.search(rb"^Message-ID: *(<[^>]*>)", envelope.content, re.M | re.I)
            message_id = found.group(1).decode() if found else None
            self.log.write(json.dumps({"event": "delivered", "message_id": message_id}) + "\n")
            self.log.flush()
            return "250 2.0.0 OK"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        message_id = message.get("Message-ID")
        self.write("received", envelope, message)
        if self.args.stall_first and not self.stalled:
            self.stalled = True
            self.write("stalled", envelope, message)
            await asyncio.sleep(3600)
            return "451 4.3.0 stalled"
        if self.args.defer_once and message_id not in self.deferred:
            self.deferred.add(message_id)
            self.write("deferred", envelope, message)
            return "451 4.3.0 try again later"
        if self.args.reject and any(self.args.reject in r for r in envelope.rcpt_tos):
            self.write("rejected", envelope, message)
            return "550 5.1.1 mailbox unavailable"
        self.write("delivered", envelope, message)
        return "250 2.0.0 OK"


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log", required=True)
    parser.add_argument("--defer-once", action="store_true")
    parser.add_argument("--reject")
    parser.add_argument("--stall-first", action="store_true")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--light", action="store_true")
    args = parser.parse_args()

    recorder = Recorder(args)
    tls_context = None
    if args.tls_cert:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(args.tls_cert, args.tls_key)

    def factory():
        return SMTP(
            recorder,
            hostname="smtp.test",
            tls_context=tls_context,
            require_starttls=tls_context is not None,
            data_size_limit=1 << 20,
        )

    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, host="127.0.0.1", port=args.port)
    port = server.sockets[0].getsockname()[1]
    print(f"ready {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
