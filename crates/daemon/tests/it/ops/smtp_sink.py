"""A real SMTP server for the alert tests: stores every message it receives as a JSON file.

Usage: python smtp_sink.py --dir OUT [--port N] [--user U --password P]
Prints "READY <port>" on stdout once it accepts connections, then serves until killed.
Each message becomes OUT/<n>.json with keys mail_from, rcpt_tos, subject, body (decoded) and
data (the raw message).
"""

import argparse
import asyncio
import email
import email.policy
import json
import logging
import os
import socket
import sys
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Saver:
    """Writes each delivered envelope to its own file, atomically."""

    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "subject": str(parsed["subject"]),
            "body": parsed.get_content(),
            "data": envelope.content.decode("utf-8", "replace"),
        }
        final = os.path.join(self.out_dir, "%06d.json" % self.count)
        with open(final + ".tmp", "w", encoding="utf-8") as handle:
            json.dump(record, handle)
        os.replace(final + ".tmp", final)
        return "250 OK"


def checker(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok)

    return check


async def main():
    warnings.simplefilter("ignore")
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args()

    handler = Saver(args.dir)
    options = {}
    if args.user:
        options = dict(
            authenticator=checker(args.user, args.password or ""),
            auth_required=True,
            auth_require_tls=False,
        )

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, **options), sock=sock)
    print("READY %d" % sock.getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
