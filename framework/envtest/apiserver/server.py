"""`ApiServer`: the embedded API server's lifecycle (storage, catalog, HTTP listener).

Binds loopback by default, serves HTTPS (a self-signed certificate: client-go sends bearer
tokens only over TLS; `tls=False` serves plain HTTP) with bearer-token authentication, seeds the
`default`, `kube-system`, `kube-public` and `kube-node-lease` namespaces. With `data_dir` the
state is kept in SQLite there (`storage_sqlite`) across restarts and processes, and so are the
token (`token`) and serving certificate (`serving-<host>.crt`/`.key`), so a server started
again on it (on the same port) is reachable with the same kubeconfig; without, memory only.
`faults` injects failures (`faults`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from framework.clock import REAL_CLOCK, Clock
from framework.envtest.apiserver.catalog import Catalog
from framework.envtest.apiserver.crds import CRD_RESOURCE
from framework.envtest.apiserver.faults import Faults
from framework.envtest.apiserver.http import ApiApp, WatchOptions
from framework.envtest.apiserver.rest import Rest
from framework.envtest.apiserver.storage import MemoryStorage, Storage
from framework.envtest.apiserver.storage_sqlite import DATABASE, SqliteStorage
from framework.envtest.apiserver.tls import ServingCert, serving_cert

SEED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class ApiServer:
    """An embedded kube-apiserver look-alike; `start()` binds, `stop()` closes everything.

    `port=0` picks a free port; `url` and `token` are known after `start()`; `stop()` then
    `start()` serves again on the same port with the same token and certificate.
    `event_window` bounds the events kept for watch resumption (older -> 410 Expired);
    `clock.wall()` stamps creation and deletion timestamps. `data_dir` (not with `storage`)
    keeps the state in SQLite there: the server loads it when created, and again on a
    `start()` after `stop()`.
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
        data_dir: str | Path | None = None,
        tls: bool = True,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        if storage is not None and data_dir is not None:
            raise ValueError("give storage or data_dir, not both")
        self.host = host
        self.port = port
        directory = None if data_dir is None else Path(data_dir)
        self.durable = (
            None if directory is None else SqliteStorage(directory / DATABASE, event_window)
        )
        self.token = token or (
            secrets.token_urlsafe(32) if directory is None else _kept_token(directory)
        )
        self.storage: Storage = storage or self.durable or MemoryStorage(event_window)
        self.catalog = Catalog()
        self.rest = Rest(self.storage, self.catalog, clock.wall)
        self.faults = Faults(self.storage, self.restart)
        for crd in self.storage.list(CRD_RESOURCE, None):  # stored CRDs: serve them again
            self.rest.crds.sync(crd)
        self._watch_options = WatchOptions(bookmark_interval, watch_queue_size)
        self._runner: web.AppRunner | None = None
        self.cert: ServingCert | None = None
        if tls:
            self.cert = serving_cert(host) if directory is None else _kept_cert(directory, host)
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
        if self.durable is not None:
            self.durable.open()
        app = ApiApp(
            self.rest, self.token, self._watch_options, middlewares=[self.faults.middleware]
        )
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
        if self.durable is not None:
            self.durable.shutdown()

    async def restart(self) -> None:
        """Stop and start again (same port, token and certificate), as a real restart: open
        watches end, the state is kept (reloaded from SQLite with `data_dir`) but the event
        window is not, so a watch resuming from an older resourceVersion gets 410."""
        await self.stop()
        self.storage.compact()
        await self.start()


def _private_file(path: Path, make: Callable[[], bytes]) -> bytes:
    """The contents of `path`, written first (mode 0600) from `make()` when missing."""
    if not path.exists():
        path.touch(mode=0o600)
        path.write_bytes(make())
    return path.read_bytes()


def _kept_token(directory: Path) -> str:
    return _private_file(directory / "token", lambda: secrets.token_urlsafe(32).encode()).decode()


def _kept_cert(directory: Path, host: str) -> ServingCert:
    """The serving certificate for `host` kept in `directory` (made once)."""
    stem = "serving-" + "".join(c if c.isalnum() or c in ".-" else "_" for c in host)
    cert, key = directory / f"{stem}.crt", directory / f"{stem}.key"
    if not (cert.exists() and key.exists()):
        made = serving_cert(host)
        cert.unlink(missing_ok=True)
        key.unlink(missing_ok=True)
        _private_file(key, made.key_file.read_bytes)
        _private_file(cert, made.cert_file.read_bytes)
    return ServingCert(cert, key)
