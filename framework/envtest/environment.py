"""`Environment`: a local control plane for tests and local runs, with a kubeconfig for it.

    async with Environment(crd_paths=["config/crd"]) as env:
        await config.load_kube_config(config_file=env.kubeconfig)

The kubeconfig (bearer token, loopback URL) is written to a temporary directory the
Environment owns (removed on stop) or to `kubeconfig_path`. CRDs from `crd_paths` (files or
directories of YAML, multi-document allowed) are installed and Established before `start`
returns.

State lives in memory, or with `data_dir` in SQLite there (it survives restarts and new
Environments on the same directory; resourceVersions keep increasing; the watch event window
is not kept, so a watch resuming from before a restart gets 410 and its client relists).
`faults` injects failures (see `framework.envtest.apiserver.faults`); `restart()` restarts the
server on the same port with the same token, so clients reconnect.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from framework.clock import REAL_CLOCK, Clock
from framework.envtest.apiserver import ApiServer
from framework.envtest.apiserver.audit import AuditSet
from framework.envtest.apiserver.errors import ApiError
from framework.envtest.apiserver.faults import Faults
from framework.envtest.apiserver.storage import Storage
from framework.envtest.files import (
    crd_documents,
    kubeconfig_yaml,
    load_crd_documents,
    write_kubeconfig,
)
from framework.envtest.lifecycle import Service

CRD_API_VERSION = "apiextensions.k8s.io/v1"


class Environment(Service):
    """Starts the embedded API server, writes a kubeconfig, installs CRDs.

    `data_dir` keeps the state in SQLite there (not with `storage`); `event_window` bounds
    the events kept for watch resumption."""

    def __init__(
        self,
        crd_paths: Iterable[str | Path] = (),
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        event_window: int = 10_000,
        bookmark_interval: float = 60.0,
        kubeconfig_path: str | Path | None = None,
        storage: Storage | None = None,
        data_dir: str | Path | None = None,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.crd_paths = list(crd_paths)
        self.server = ApiServer(
            host=host,
            port=port,
            event_window=event_window,
            bookmark_interval=bookmark_interval,
            storage=storage,
            data_dir=data_dir,
            clock=clock,
        )
        self._kubeconfig_path = Path(kubeconfig_path) if kubeconfig_path else None
        self._tmpdir: str | None = None
        self._started = False

    @property
    def store(self) -> Storage:
        """The server's storage (for tests that need to look behind the API)."""
        return self.server.storage

    @property
    def faults(self) -> Faults:
        """Fault injection: drop watches, compact, injected answers and latency."""
        return self.server.faults

    @property
    def audit(self) -> AuditSet:
        """The distinct requests served so far (see `apiserver.audit`)."""
        return self.server.rest.audit.records

    @property
    def server_url(self) -> str:
        return self.server.url

    @property
    def token(self) -> str:
        return self.server.token

    @property
    def kubeconfig(self) -> str:
        if self._kubeconfig_path is None:
            raise RuntimeError("the environment is not started")
        return str(self._kubeconfig_path)

    async def start(self) -> None:
        await self.server.start()
        self._started = True
        if self._kubeconfig_path is None:
            self._tmpdir = tempfile.mkdtemp(prefix="kubeloop-envtest-")
            self._kubeconfig_path = Path(self._tmpdir) / "kubeconfig"
        write_kubeconfig(self._kubeconfig_path, self.server_url, self.token, self._ca_pem())
        if self.crd_paths:
            await self.install_crds(self.crd_paths)

    async def stop(self) -> None:
        if self._started:
            await self.server.stop()
            self._started = False
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
            self._kubeconfig_path = None

    async def restart(self) -> None:
        """Restart the server (same port, token, certificate and kubeconfig): open watches
        end, state is kept (reloaded from SQLite with `data_dir`), the event window is not."""
        if not self._started:
            raise RuntimeError("the environment is not started")
        await self.server.restart()

    async def install_crds(self, crds: Iterable[str | Path | dict[str, Any]]) -> list[str]:
        """Create or replace the CRDs (paths or dicts); each is Established when this returns.

        Returns their names. Raises ApiError if the server rejects one, RuntimeError if one is
        not Established (its names conflict with another CRD's).
        """
        docs = crd_documents(crds)
        rest = self.server.rest
        served = rest.catalog.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        assert served is not None
        names = []
        for doc in docs:
            name = doc["metadata"]["name"]
            body = {**doc, "apiVersion": CRD_API_VERSION, "kind": "CustomResourceDefinition"}
            current = rest.storage.get(served.key, "", name)
            if current is None:
                rest.create(served, "", body)
            else:
                body["metadata"] = {**body["metadata"], "resourceVersion": str(current.rv)}
                rest.update(served, "", name, body)
            names.append(name)
        await asyncio.sleep(0)
        for name in names:
            if not self._established(served.key, name):
                raise RuntimeError(f"CustomResourceDefinition {name} is not Established")
        return names

    def _ca_pem(self) -> bytes | None:
        cert = self.server.cert
        return None if cert is None else cert.cert_pem

    def _established(self, key: str, name: str) -> bool:
        stored = self.server.storage.get(key, "", name)
        if stored is None:
            return False
        conditions = (stored.obj.get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


__all__ = ["ApiError", "Environment", "kubeconfig_yaml", "load_crd_documents"]
