#!/usr/bin/python3
"""A real SMTP server (aiosmtpd, from Debian) for the alert tests.

    smtp_server.py PORT MAILDIR CERT KEY USER PASSWORD

Listens on 127.0.0.1:PORT, requires STARTTLS (CERT, KEY) and a login
(USER, PASSWORD) before taking mail, and writes each message it takes to
MAILDIR as one JSON file (from, to, subject, body, decoded). Prints "ready"
once it listens, and stops when its standard input closes.
"""
import email
import email.policy
import json
import ssl
import sys
import tempfile

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def main():
    port, maildir, cert, key, user, password = sys.argv[1:7]

    class Keep:
        async def handle_DATA(self, server, session, envelope):
            message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
            kept = {
                "from": envelope.mail_from,
                "to": envelope.rcpt_tos,
                "subject": str(message["subject"]),
                "body": message.get_body(("plain",)).get_content(),
            }
            with tempfile.NamedTemporaryFile("w", dir=maildir, suffix=".json", delete=False) as out:
                json.dump(kept, out)
            return "250 Message accepted"

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        # Not "handled": aiosmtpd answers a refusal with 535 itself.
        return AuthResult(success=ok, handled=False)

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    controller = Controller(
        Keep(),
        hostname="127.0.0.1",
        port=int(port),
        tls_context=context,
        require_starttls=True,
        authenticator=authenticate,
        auth_required=True,
        auth_require_tls=True,
    )
    controller.start()
    print("ready", flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
