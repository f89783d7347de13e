"""`ApiServer`: the embedded API server's lifecycle (storage, catalog, HTTP listener).

Binds loopback by default, serves HTTPS (a self-signed certificate: client-go sends bearer
tokens only over TLS; `tls=False` serves plain HTTP) with bearer-token authentication, seeds the
`default`, `kube-system`, `kube-public` and `kube-node-lease` namespaces.
"""

from __future__ import annotations

import secrets

from aiohttp import web

from framework.clock import REAL_CLOCK, Clock
from framework.envtest.apiserver.catalog import Catalog
from framework.envtest.apiserver.http import ApiApp, WatchOptions
from framework.envtest.apiserver.rest import Rest
from framework.envtest.apiserver.storage import MemoryStorage, Storage
from framework.envtest.apiserver.tls import ServingCert, serving_cert

SEED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class ApiServer:
    """An embedded kube-apiserver look-alike; `start()` binds, `stop()` closes everything.

    `port=0` picks a free port; `url` and `token` are known after `start()`.
    `event_window` bounds the events kept for watch resumption (older -> 410 Expired);
    `clock.wall()` stamps creation and deletion timestamps.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        event_window: int = 10_000,
        bookmark_interval: float = 60.0,
        watch_queue_size: int = 10_000,
        storage: Storage | None = None,
        tls: bool = True,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.host = host
        self.port = port
        self.token = token or secrets.token_urlsafe(32)
        self.storage: Storage = storage or MemoryStorage(event_window)
        self.catalog = Catalog()
        self.rest = Rest(self.storage, self.catalog, clock.wall)
        self._watch_options = WatchOptions(bookmark_interval, watch_queue_size)
        self._runner: web.AppRunner | None = None
        self.cert: ServingCert | None = serving_cert(host) if tls else None
        namespaces = self.catalog.lookup("", "v1", "namespaces")
        assert namespaces is not None
        for name in SEED_NAMESPACES:
            if self.storage.get("namespaces", "", name) is None:
                self.rest.create(namespaces, "", {"metadata": {"name": name}})

    @property
    def url(self) -> str:
        scheme = "https" if self.cert is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    async def start(self) -> None:
        app = ApiApp(self.rest, self.token, self._watch_options)
        runner = web.AppRunner(
            app.build(), access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await runner.setup()
        context = self.cert.server_context() if self.cert is not None else None
        site = web.TCPSite(runner, self.host, self.port, ssl_context=context)
        await site.start()
        self.port = int(runner.addresses[0][1])
        app.discovery.server_address = f"{self.host}:{self.port}"
        self._runner = runner

    async def stop(self) -> None:
        self.storage.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
