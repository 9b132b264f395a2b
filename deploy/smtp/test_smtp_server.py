"""A throwaway SMTP server for seawatch's mail tests (aiosmtpd, loopback only).

    python test_smtp_server.py DIR PORT

Every message accepted is written to DIR/maildir/new/ (Maildir: written under tmp/, then
renamed), with the envelope recipients as an `X-Test-Rcpt-To:` first line. The server's
behaviour is read from DIR/mode on every connection and every DATA, so a test switches it
without a restart:

    accept       (or no file) take every message
    refuse       answer each new connection with 421 and close it
    drop         close each new connection without a greeting
    tempfail     answer DATA with 451 (the message is not kept)
    drop-after-data   keep the message, then close the connection without the 250 reply
                 (the client cannot know it arrived: it must send it again, same Message-ID)

Environment: SMTP_TLS=starttls (STARTTLS required before MAIL) or tls (TLS from the first
byte), with DIR/server.pem and DIR/server.key (the start script makes them, signed by
DIR/ca.pem); SMTP_AUTH=user:password requires AUTH PLAIN/LOGIN with those credentials
(only over TLS when SMTP_TLS is set).
"""

import asyncio
import itertools
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

COUNTER = itertools.count()


def mode(directory):
    try:
        with open(os.path.join(directory, "mode"), encoding="ascii") as f:
            return f.read().strip() or "accept"
    except FileNotFoundError:
        return "accept"


def store(directory, envelope):
    tmp = os.path.join(directory, "maildir", "tmp")
    new = os.path.join(directory, "maildir", "new")
    name = "%d.%06d.eml" % (os.getpid(), next(COUNTER))
    data = envelope.original_content or envelope.content
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(tmp, name), "wb") as f:
        f.write(b"X-Test-Rcpt-To: " + ", ".join(envelope.rcpt_tos).encode("utf-8") + b"\r\n")
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.rename(os.path.join(tmp, name), os.path.join(new, name))


class Handler:
    def __init__(self, directory):
        self.directory = directory

    async def handle_DATA(self, server, session, envelope):
        m = mode(self.directory)
        if m == "tempfail":
            return "451 4.3.0 test server: try again later"
        store(self.directory, envelope)
        if m == "drop-after-data":
            server.transport.close()
            return "250 OK (never seen: the connection is closed)"
        return "250 OK"


class TestSMTP(SMTP):
    """aiosmtpd's SMTP that can refuse or drop a connection before its greeting."""

    def __init__(self, handler, directory, **kwargs):
        super().__init__(handler, **kwargs)
        self.directory = directory

    def connection_made(self, transport):
        m = mode(self.directory)
        if m in ("refuse", "drop"):
            # Not handed to aiosmtpd: this connection never becomes an SMTP session.
            self._refused = True
            if m == "refuse":
                transport.write(b"421 4.3.2 test server refuses connections\r\n")
            transport.close()
            return
        self._refused = False
        super().connection_made(transport)

    def connection_lost(self, exc):
        if not getattr(self, "_refused", False):
            super().connection_lost(exc)

    def eof_received(self):
        if getattr(self, "_refused", False):
            return False
        return super().eof_received()


def authenticator(expected):
    user, _, password = expected.partition(":")

    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        # handled=False: aiosmtpd answers 535 itself on a failure.
        return AuthResult(success=ok, handled=False)

    return check


async def main(directory, port):
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(directory, "maildir", sub), exist_ok=True)
    handler = Handler(directory)
    loop = asyncio.get_running_loop()
    tls = os.environ.get("SMTP_TLS", "none")
    auth = os.environ.get("SMTP_AUTH", "")
    ctx = None
    if tls != "none":
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(
            os.path.join(directory, "server.pem"), os.path.join(directory, "server.key")
        )
    kwargs = dict(hostname="seawatch-test-smtp", enable_SMTPUTF8=True)
    if tls == "starttls":
        kwargs.update(tls_context=ctx, require_starttls=True)
    if auth:
        kwargs.update(
            authenticator=authenticator(auth),
            auth_required=True,
            # Implicit TLS is TLS already; aiosmtpd only counts STARTTLS as TLS.
            auth_require_tls=tls == "starttls",
        )
    server = await loop.create_server(
        lambda: TestSMTP(handler, directory, **kwargs),
        host="127.0.0.1",
        port=port,
        ssl=ctx if tls == "tls" else None,
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
