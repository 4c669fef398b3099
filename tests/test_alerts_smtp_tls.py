"""The mail module against real SMTP servers with TLS and login, as mail providers run them:
STARTTLS on a plain port and implicit TLS, each requiring AUTH. aiosmtpd plays the provider with
a freshly made self-signed certificate that the client is told to trust (SSL_CERT_FILE), so the
certificate and host-name checks run for real."""
from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from test_alerts_support import free_port

from alerts import mail
from yuqing.config import Config, from_mapping

USER, PASSWORD = "alerts@example.com", "s3cret"


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class Mailbox:
    """Keeps what arrives and who logged in to send it."""

    def __init__(self) -> None:
        self.received: list[tuple[str | None, bytes]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd naming)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        self.received.append((login, envelope.original_content))
        return "250 OK"


def check_login(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(), PASSWORD.encode())
    return AuthResult(success=ok, handled=False, auth_data=auth_data)  # kept as session.auth_data


@pytest.fixture
def tls(tmp_path, monkeypatch) -> ssl.SSLContext:
    cert, key = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts this certificate, and only it
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@contextmanager
def start(mailbox: Mailbox, port: int, **options) -> Iterator[Controller]:
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, authenticator=check_login, **options)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


def smtp_config(tmp_path: Path, port: int, security: str, password: str = PASSWORD) -> Config:
    return from_mapping({"smtp": {"host": "127.0.0.1", "port": port, "security": security, "username": USER,
                                  "sender": USER, "timeout": "5s"}},
                        "test.yaml", tmp_path / "data", env={"YUQING_SMTP_PASSWORD": password})


def message() -> mail.EmailMessage:
    return mail.compose("alert", "告警", USER, ["crisis@example.com"], "正文", "<p>正文</p>")


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_login_over_tls(tmp_path, tls, security):
    mailbox, port = Mailbox(), free_port()
    if security == "starttls":
        options = {"tls_context": tls, "require_starttls": True, "auth_require_tls": True}
    else:  # aiosmtpd only counts STARTTLS as TLS for offering AUTH; here the whole connection is TLS
        options = {"ssl_context": tls, "auth_require_tls": False}
    with start(mailbox, port, **options):
        mail.send(smtp_config(tmp_path, port, security).smtp, message())
        with pytest.raises(mail.MailError, match=f"127.0.0.1:{port}.*SMTPAuthenticationError"):
            mail.send(smtp_config(tmp_path, port, security, password="wrong").smtp, message())
    [(login, raw)] = mailbox.received
    assert login == USER and b"X-Yuqing-Kind: alert" in raw


def test_untrusted_certificate_is_refused(tmp_path, tls, monkeypatch):
    mailbox, port = Mailbox(), free_port()
    monkeypatch.delenv("SSL_CERT_FILE")  # back to the system's trust store, which never saw this cert
    with start(mailbox, port, tls_context=tls, require_starttls=True, auth_require_tls=True):
        with pytest.raises(mail.MailError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            mail.send(smtp_config(tmp_path, port, "starttls").smtp, message())
    assert mailbox.received == []
