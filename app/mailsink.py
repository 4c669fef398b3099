"""A local SMTP server that keeps every email it receives as an `.eml` file.

`yuqing demo` points the service's SMTP settings at it so alerts and digests can be read without
a real mail server, and the tests use it as the real receiving end of `smtplib`.
"""
from __future__ import annotations

import os
import socket
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class _SaveToOutbox:
    """aiosmtpd handler: one file per message, written under a temporary name and renamed, so a
    reader never sees half an email."""

    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox
        self._lock = threading.Lock()
        self._seq = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        with self._lock:
            self._seq += 1
            seq = self._seq
        # Time-then-sequence names sort in arrival order.
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        final = self.outbox / f"{stamp}-{seq:05d}-{uuid.uuid4().hex[:6]}.eml"
        partial = final.with_suffix(".part")
        partial.write_bytes(raw)
        os.replace(partial, final)
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """Controller that can listen on port 0: aiosmtpd's start-up probe connects to `self.port`,
    so the port the OS picked must be read back before that probe runs."""

    def _trigger_server(self) -> None:
        sockets = getattr(self.server, "sockets", None)  # asyncio.Server, typed as AbstractServer
        if sockets:
            self.port = sockets[0].getsockname()[1]
        super()._trigger_server()


def _check_free(host: str, port: int) -> None:
    """Fail at once on a taken port: aiosmtpd would only notice after its 5 s start-up timeout."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's server does
        try:
            probe.bind((host, port))
        except OSError as e:
            raise OSError(e.errno, f"mail sink cannot listen on {host}:{port}: {e.strerror or e}") from e


class MailSink:
    """SMTP server on `host` (default 127.0.0.1) saving each received email under `outbox`."""

    def __init__(self, outbox: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 0) -> None:
        self.outbox = Path(outbox)
        self.host = host
        self.port = port
        self._controller: _Controller | None = None

    def start(self) -> tuple[str, int]:
        """Start listening; returns the (host, port) to point SMTP clients at."""
        if self._controller is not None:
            raise RuntimeError(f"mail sink already running on {self.host}:{self.port}")
        self.outbox.mkdir(parents=True, exist_ok=True)
        if self.port:
            _check_free(self.host, self.port)
        controller = _Controller(_SaveToOutbox(self.outbox), hostname=self.host, port=self.port,
                                 server_hostname="yuqing-mailsink")
        try:
            controller.start()
        except OSError as e:
            raise OSError(e.errno, f"mail sink cannot listen on {self.host}:{self.port}: {e.strerror or e}") from e
        self._controller = controller
        self.port = controller.port
        return self.host, self.port

    def stop(self) -> None:
        """Stop listening (idempotent). Received files stay in the outbox."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def messages(self) -> list[Path]:
        """Every `.eml` received so far (including earlier runs into the same outbox), oldest first."""
        if not self.outbox.is_dir():
            return []
        return sorted(self.outbox.glob("*.eml"))

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
