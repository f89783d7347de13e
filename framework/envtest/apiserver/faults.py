"""Fault injection, for testing what is built on the API server (clients, informers,
controllers) against the failures a real cluster shows.

On an `Environment` (`env.faults`, a `Faults`):

    env.faults.drop_watches()      # every open watch stream ends; clients resume from their RV
    env.faults.compact()           # forget the event window: a resume from an older RV -> 410
    await env.restart()            # stop and start on the same port, token and certificate;
                                   # state kept (from SQLite with data_dir), event window not
    env.faults.inject(status=503, verb="GET", path_regex=r"/widgets$", count=2, retry_after=1)
    env.faults.expire_watches()    # the next watch is answered HTTP 410 (not an ERROR event)
    env.faults.latency(0.2, verb="PATCH")  # every matching request waits 0.2 s first
    env.faults.clear()             # remove every injected answer and latency

`inject` answers the next `count` matching requests (None: every one until `clear()`) with
`status` and a metav1 Status body (reasons: 410 Expired, 429 TooManyRequests, 500
InternalError, 503 ServiceUnavailable, 504 Timeout), plus `Retry-After: <retry_after>` and
`details.retryAfterSeconds` unless `retry_after` is None. The server does nothing else for an
answered request (a write is not made). Matching: `verb` None matches every request, "WATCH"
only watches, "GET" only GETs that are not watches, other HTTP methods by method;
`path_regex` is searched (`re.search`) in the request path without the query string. The
earliest injected matching answer with requests left is used. Latencies (real time) of all
matching `latency` rules add up and are waited before the request is handled or answered.

Over HTTP (the same bearer token as every other request; never affected by faults):
`POST /kubeloop/faults` with a JSON object `{"action": A, ...arguments}` where A is
"drop_watches", "compact", "restart" (answered 202 before restarting), "inject" or "latency"
(arguments named as above, `seconds` for latency), or "clear"; `GET /kubeloop/faults` lists
the active rules. Bad input is answered 400.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import orjson
from aiohttp import web

from framework.envtest.apiserver.auth import Handler
from framework.envtest.apiserver.errors import ApiError
from framework.envtest.apiserver.storage import Storage

ENDPOINT = "/kubeloop/faults"
_PREFIX = "/kubeloop/"
_VERBS = frozenset({"GET", "WATCH", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_REASONS = {
    410: "Expired",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}
_CODES = frozenset(code.value for code in HTTPStatus)
_WATCH_PATH = re.compile(r"^/(?:api/v1|apis/[^/]+/[^/]+)/watch/")
_JSON = "application/json"


def is_watch(request: web.Request) -> bool:
    """A watch: `?watch=true|1` or the legacy `/watch/` path prefix."""
    if request.method != "GET":
        return False
    return request.query.get("watch", "").lower() in ("true", "1") or bool(
        _WATCH_PATH.match(request.path)
    )


@dataclass(slots=True)
class Rule:
    """Which requests a fault applies to, and how many more times (None: until cleared)."""

    verb: str | None
    path: re.Pattern[str] | None
    count: int | None

    def matches(self, request: web.Request) -> bool:
        if self.verb is not None:
            watch = is_watch(request)
            if self.verb == "WATCH" and not watch:
                return False
            if self.verb != "WATCH" and (self.verb != request.method or watch):
                return False
        return self.path is None or self.path.search(request.path) is not None

    def use(self) -> None:
        if self.count is not None:
            self.count -= 1

    def describe(self) -> dict[str, Any]:
        return {
            "verb": self.verb,
            "path_regex": None if self.path is None else self.path.pattern,
            "count": self.count,
        }


@dataclass(slots=True)
class Answer:
    """An injected error answer."""

    rule: Rule
    status: int
    retry_after: int | None

    def response(self) -> web.Response:
        reason = _REASONS.get(self.status) or HTTPStatus(self.status).phrase.replace(" ", "")
        details = None if self.retry_after is None else {"retryAfterSeconds": self.retry_after}
        message = "too old resource version" if self.status == 410 else "injected fault"
        body = ApiError(self.status, reason, message, details).body()
        headers = None if self.retry_after is None else {"Retry-After": str(self.retry_after)}
        return web.Response(body=body, status=self.status, content_type=_JSON, headers=headers)


@dataclass(slots=True)
class Delay:
    """An injected latency."""

    rule: Rule
    seconds: float


def _rule(verb: str | None, path_regex: str | None, count: int | None) -> Rule:
    if verb is not None:
        verb = str(verb).upper()
        if verb not in _VERBS:
            raise ValueError(f"verb must be one of {sorted(_VERBS)} or None, not {verb!r}")
    if count is not None and (not isinstance(count, int) or count < 1):
        raise ValueError(f"count must be a positive integer or None, not {count!r}")
    try:
        path = None if path_regex is None else re.compile(path_regex)
    except (re.error, TypeError) as error:
        raise ValueError(f"bad path_regex {path_regex!r}: {error}") from None
    return Rule(verb, path, count)


class Faults:
    """The fault hooks of one server (see the module docstring). `storage` is the server's;
    `restart` restarts it."""

    def __init__(self, storage: Storage, restart: Callable[[], Awaitable[None]]) -> None:
        self._storage = storage
        self._restart = restart
        self._answers: list[Answer] = []
        self._delays: list[Delay] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def drop_watches(self) -> None:
        """End every open watch stream (the server stays up; clients resume)."""
        self._storage.close()

    def compact(self) -> None:
        """Forget the event window: watches resuming from an older resourceVersion, and
        continue tokens from before now, get 410 Expired."""
        self._storage.compact()

    async def restart(self) -> None:
        """Restart the server (see `ApiServer.restart`)."""
        await self._restart()

    def inject(
        self,
        *,
        status: int,
        verb: str | None = None,
        path_regex: str | None = None,
        count: int | None = 1,
        retry_after: int | None = 1,
    ) -> None:
        """Answer the next `count` matching requests with `status` (400..599)."""
        if not isinstance(status, int) or not 400 <= status <= 599 or status not in _CODES:
            raise ValueError(f"status must be an HTTP error code (400..599), not {status!r}")
        if retry_after is not None and (not isinstance(retry_after, int) or retry_after < 0):
            raise ValueError(f"retry_after must be seconds (an integer >= 0), not {retry_after!r}")
        self._answers.append(Answer(_rule(verb, path_regex, count), status, retry_after))

    def expire_watches(self, count: int | None = 1, path_regex: str | None = None) -> None:
        """Answer the next `count` matching watch requests HTTP 410 Expired."""
        self.inject(status=410, verb="WATCH", path_regex=path_regex, count=count, retry_after=None)

    def latency(
        self,
        seconds: float,
        *,
        verb: str | None = None,
        path_regex: str | None = None,
        count: int | None = None,
    ) -> None:
        """Delay matching requests by `seconds` (the next `count`; None: until cleared)."""
        if not isinstance(seconds, int | float) or seconds < 0:
            raise ValueError(f"seconds must be a number >= 0, not {seconds!r}")
        self._delays.append(Delay(_rule(verb, path_regex, count), float(seconds)))

    def clear(self) -> None:
        """Remove every injected answer and latency."""
        self._answers.clear()
        self._delays.clear()

    def rules(self) -> dict[str, list[dict[str, Any]]]:
        """The active answers and latencies, as JSON-ready dicts."""
        return {
            "answers": [
                {**a.rule.describe(), "status": a.status, "retry_after": a.retry_after}
                for a in self._answers
            ],
            "latencies": [{**d.rule.describe(), "seconds": d.seconds} for d in self._delays],
        }

    # -- HTTP ------------------------------------------------------------------------------

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Serves the fault endpoint and applies the rules to every other request."""
        if request.path.startswith(_PREFIX):
            if request.path == ENDPOINT:
                return await self._endpoint(request)
            return await handler(request)
        if not (self._delays or self._answers):
            return await handler(request)
        delays = [d for d in self._delays if d.rule.matches(request)]
        answer = next((a for a in self._answers if a.rule.matches(request)), None)
        for rule in [d.rule for d in delays] + ([answer.rule] if answer else []):
            rule.use()
        self._delays = [d for d in self._delays if d.rule.count != 0]
        self._answers = [a for a in self._answers if a.rule.count != 0]
        if delays:
            await asyncio.sleep(sum(d.seconds for d in delays))
        return await handler(request) if answer is None else answer.response()

    async def _endpoint(self, request: web.Request) -> web.Response:
        if request.method == "GET":
            return web.json_response(self.rules())
        if request.method != "POST":
            return _status(ApiError(405, "MethodNotAllowed", "use GET or POST"))
        try:
            body = orjson.loads(await request.read())
            if not isinstance(body, dict) or not isinstance(body.get("action"), str):
                raise ValueError('the body must be a JSON object with an "action"')
            action = body.pop("action")
            if action == "restart" and not body:
                task = asyncio.create_task(self.restart())
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                return web.json_response({"action": action}, status=202)
            self._act(action, body)
        except (ValueError, TypeError) as error:  # orjson.JSONDecodeError is a ValueError
            return _status(ApiError(400, "BadRequest", f"bad fault request: {error}"))
        return web.json_response({"action": action, **self.rules()})

    def _act(self, action: str, arguments: dict[str, Any]) -> None:
        actions: dict[str, Callable[..., None]] = {
            "drop_watches": self.drop_watches,
            "compact": self.compact,
            "inject": self.inject,
            "latency": self.latency,
            "clear": self.clear,
        }
        act = actions.get(action)
        if act is None:
            raise ValueError(f"unknown action {action!r}")
        act(**arguments)


def _status(error: ApiError) -> web.Response:
    return web.Response(body=error.body(), status=error.code, content_type=_JSON)
