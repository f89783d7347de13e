"""The manager's HTTP servers (aiohttp): probes, metrics and the status API.

Health-probe application:
- `GET /healthz`: 200 "ok" while the event loop serves requests (liveness).
- `GET /readyz`: 200 when every readiness check passes, else 503; a check may pass while
  naming a condition that does not block readiness (a controller waiting for its CRD).
  `?verbose` lists every check as `[+]name detail` / `[-]name detail`, as kube-apiserver does.

Metrics application:
- `GET /metrics`: the Prometheus text exposition of one registry.
- The status API, built on snapshots of a `StatusTracker` (times are RFC 3339 UTC, durations
  are seconds):
  - `GET /api/v1/{group}/{plural}/statuses` (group "core" for the core group): every tracked
    object of that kind with controller, state, message and timeInState, plus `stateCounts`
    and `totalCount`; 404 when the kind is unknown.
  - `GET /api/v1/{group}/{plural}/{namespace}/{name}/status` (namespace "_" when
    cluster-scoped): state, healthy, message, stateEntered, lastUpdated, timeInState, error,
    metadata and recentHistory; 404 when not tracked; 503 with the same body while the object
    is unhealthy (its last reconcile failed, or its state is Failed or Error).
  - `GET /api/v1/controllers/statuses`: each controller's lifecycle state (initializing,
    syncing, ready, error), message, error, queue depth, reconcile counts by result.
  - `GET /api/v1/controllers/{name}/machine`: the controller's phase machine as JSON with its
    Mermaid diagram (`?format=mermaid` answers the diagram alone as text); 404 when the
    controller is unknown or has no phase machine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from framework.clock import REAL_CLOCK, Clock
from framework.phase import PhaseMachine
from framework.settings import BindAddress
from framework.tracker import ControllerStatus, ObjectKey, ObjectStatus, StatusTracker

__all__ = [
    "UNHEALTHY_STATES",
    "Check",
    "HttpServer",
    "StatusApi",
    "health_app",
    "healthy",
    "metrics_app",
]

UNHEALTHY_STATES = frozenset({"Failed", "Error"})
CORE_GROUP = "core"
CLUSTER_SCOPED = "_"


@dataclass(frozen=True, slots=True)
class Check:
    """One readiness check's outcome: `ok` decides readiness, `detail` explains it."""

    name: str
    ok: bool
    detail: str = "ok"


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS),
        status=status,
        content_type="application/json",
    )


def _verbose(checks: Sequence[Check], passed: bool, what: str) -> str:
    lines = [f"[{'+' if c.ok else '-'}]{c.name} {c.detail}" for c in checks]
    lines.append(f"{what} check {'passed' if passed else 'failed'}")
    return "\n".join(lines) + "\n"


def health_app(readiness: Callable[[], Sequence[Check]]) -> web.Application:
    """The probe application; `readiness()` is evaluated on every `/readyz` request."""

    async def healthz(request: web.Request) -> web.Response:
        if "verbose" in request.query:
            return web.Response(text=_verbose([Check("ping", True)], True, "healthz"))
        return web.Response(text="ok")

    async def readyz(request: web.Request) -> web.Response:
        checks = readiness()
        ready = all(check.ok for check in checks)
        status = 200 if ready else 503
        if "verbose" in request.query:
            return web.Response(text=_verbose(checks, ready, "readyz"), status=status)
        failed = ", ".join(c.name for c in checks if not c.ok)
        return web.Response(text="ok" if ready else f"not ready: {failed}", status=status)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


def _time(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def healthy(status: ObjectStatus) -> bool:
    """Whether a tracked object is healthy: no recorded error and not in an unhealthy state."""
    return status.error is None and status.state not in UNHEALTHY_STATES


class StatusApi:
    """The status API routes over `tracker` (see the module docstring).

    `kind_of(group, plural)` names the kind served under that group ("" for core) and plural,
    or None; `machine_of(controller)` returns a controller's phase machine, or None; `clock`
    measures timeInState.
    """

    def __init__(
        self,
        tracker: StatusTracker,
        kind_of: Callable[[str, str], str | None],
        machine_of: Callable[[str], PhaseMachine | None],
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self._tracker = tracker
        self._kind_of = kind_of
        self._machine_of = machine_of
        self._clock = clock

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/controllers/statuses", self._controllers)
        app.router.add_get("/api/v1/controllers/{name}/machine", self._machine)
        app.router.add_get("/api/v1/{group}/{plural}/statuses", self._statuses)
        app.router.add_get("/api/v1/{group}/{plural}/{namespace}/{name}/status", self._status)

    def _since(self, moment: datetime | None) -> float | None:
        if moment is None:
            return None
        return round((self._clock.wall() - moment).total_seconds(), 3)

    def _kind(self, request: web.Request) -> tuple[str, str]:
        group = request.match_info["group"]
        group = "" if group == CORE_GROUP else group
        kind = self._kind_of(group, request.match_info["plural"])
        if kind is None:
            raise web.HTTPNotFound(
                text=orjson.dumps({"error": "unknown kind"}).decode(),
                content_type="application/json",
            )
        return group, kind

    async def _statuses(self, request: web.Request) -> web.Response:
        group, kind = self._kind(request)
        objects = [s for s in self._tracker.list() if (s.key.group, s.key.kind) == (group, kind)]
        counts: dict[str, int] = {}
        for status in objects:
            if status.state is not None:
                counts[status.state] = counts.get(status.state, 0) + 1
        items = [
            {
                "namespace": s.key.namespace,
                "name": s.key.name,
                "controller": s.controller,
                "state": s.state,
                "healthy": healthy(s),
                "message": s.message,
                "timeInState": self._since(s.state_entered),
            }
            for s in objects
        ]
        body = {"kind": kind, "items": items, "stateCounts": counts, "totalCount": len(items)}
        return _json(body)

    async def _status(self, request: web.Request) -> web.Response:
        group, kind = self._kind(request)
        namespace = request.match_info["namespace"]
        key = ObjectKey(
            group,
            kind,
            "" if namespace == CLUSTER_SCOPED else namespace,
            request.match_info["name"],
        )
        found = [s for s in self._tracker.list() if s.key == key]
        if not found:
            return _json({"error": f"{key} is not tracked"}, 404)
        status = max(found, key=lambda s: s.last_updated)
        ok = healthy(status)
        return _json(self._object_body(status, ok), 200 if ok else 503)

    def _object_body(self, status: ObjectStatus, ok: bool) -> dict[str, Any]:
        return {
            "kind": status.key.kind,
            "namespace": status.key.namespace,
            "name": status.key.name,
            "controller": status.controller,
            "state": status.state,
            "healthy": ok,
            "message": status.message,
            "stateEntered": _time(status.state_entered),
            "lastUpdated": _time(status.last_updated),
            "timeInState": self._since(status.state_entered),
            "error": status.error,
            "metadata": status.metadata,
            "recentHistory": [
                {
                    "from": t.from_state,
                    "to": t.to_state,
                    "time": _time(t.time),
                    "message": t.message,
                }
                for t in status.history
            ],
        }

    async def _controllers(self, request: web.Request) -> web.Response:
        controllers = [self._controller_body(c) for c in self._tracker.controllers()]
        return _json({"controllers": controllers, "totalCount": len(controllers)})

    @staticmethod
    def _controller_body(status: ControllerStatus) -> dict[str, Any]:
        return {
            "name": status.name,
            "state": status.state.value,
            "message": status.message,
            "stateEntered": _time(status.state_entered),
            "lastUpdated": _time(status.last_updated),
            "error": status.error,
            "queueDepth": status.queue_depth,
            "reconciles": status.reconciles,
            "objects": status.objects,
        }

    async def _machine(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        machine = self._machine_of(name)
        if machine is None:
            return _json({"error": f"controller {name!r} has no phase machine"}, 404)
        if request.query.get("format") == "mermaid":
            return web.Response(text=machine.to_mermaid())
        return _json({"controller": name, **machine.describe(), "mermaid": machine.to_mermaid()})


def metrics_app(
    registry: CollectorRegistry, status_api: StatusApi | None = None
) -> web.Application:
    """The metrics application: `/metrics` from `registry`, and the status API if given."""

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    if status_api is not None:
        status_api.add_routes(app)
    return app


class HttpServer:
    """Serves one aiohttp application on one address until stopped.

    Port 0 binds a free port; `address` is the address actually bound once started (with the
    host as given; "" means every interface), and stays known after `stop()`.
    """

    def __init__(self, name: str, app: web.Application, address: BindAddress) -> None:
        self.name = name
        self._app = app
        self._requested = address
        self._runner: web.AppRunner | None = None
        self._bound: BindAddress | None = None

    @property
    def address(self) -> BindAddress | None:
        """The address bound (None until started)."""
        return self._bound

    @property
    def url(self) -> str | None:
        """The base URL to reach the server (loopback when bound to every interface), None
        until started."""
        if self._bound is None:
            return None
        host = self._bound.host or "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self._bound.port}"

    async def start(self) -> None:
        runner = web.AppRunner(self._app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self._requested.host or None, self._requested.port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self._bound = BindAddress(self._requested.host, int(runner.addresses[0][1]))

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
