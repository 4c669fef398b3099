"""The web app (`yuqing serve`; beside the scheduler in `yuqing run` and `yuqing demo`).

Part of the application layer: it serves the process's one `Services` (its store is shared with
the scheduler's jobs in `yuqing run`), plus its own state: `WebServer(services, state)`. See
`app.web.app` for the base routes and the security rules, `app.web.alert_routes` and
`app.web.case_routes` for alerts, silences and cases, `app.web.state` for users, sessions and the
audit log.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from app.services import Services
from app.web import alert_routes, case_routes, digest_routes, saved_routes
from app.web.app import base_app
from app.web.state import ROLES, User, UserError, WebState, state_path

__all__ = ["ROLES", "User", "UserError", "WebServer", "WebState", "beside", "create_app", "state_path"]
log = logging.getLogger("yuqing.web")


def create_app(services: Services, state: WebState) -> FastAPI:
    """The ASGI app over the process's services and the web state (shared, thread-safe objects;
    the caller closes them): the base routes, then alerts and silences, then cases."""
    web, app = base_app(services, state)
    alert_routes.add_routes(web, app)
    case_routes.add_routes(web, app)
    digest_routes.add_routes(web, app)
    saved_routes.add_routes(web, app)
    return app


@contextmanager
def beside(services: Services, port: int | None = None) -> Iterator[str]:
    """The web app on a thread for the length of the block (beside the scheduler); yields its URL."""
    state = WebState(state_path(services))
    server = WebServer(services, state, port=port)
    try:
        yield server.start()
    finally:
        server.stop()
        state.close()


class WebServer:
    """uvicorn serving the app on one address: in the foreground (`run`) or on a thread (`start`)."""

    def __init__(self, services: Services, state: WebState, host: str | None = None,
                 port: int | None = None) -> None:
        config = services.config
        self.host = host or config.web.host
        settings = uvicorn.Config(create_app(services, state), host=self.host,
                                  port=config.web.port if port is None else port,
                                  proxy_headers=True, forwarded_allow_ips=list(config.web.trusted_proxies),
                                  log_level="warning", server_header=False, lifespan="off")
        self.server = uvicorn.Server(settings)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The address it listens on (the real port when 0 was asked for), once started."""
        sockets = [s for server in self.server.servers for s in server.sockets]
        port = sockets[0].getsockname()[1] if sockets else self.server.config.port
        return f"http://{self.host}:{port}"

    def run(self) -> None:
        """Serve until Ctrl-C or SIGTERM (uvicorn handles both)."""
        self.server.run()

    def start(self, timeout: float = 60.0) -> str:
        """Serve on a background thread; returns the URL once it listens (raises if it cannot)."""
        self._thread = threading.Thread(target=self.server.run, name="yuqing-web", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout  # a hang guard only
        while not self.server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not self.server.started:
            raise OSError(f"the web app could not listen on {self.host}:{self.server.config.port}")
        log.info("web app at %s", self.url)
        return self.url

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
