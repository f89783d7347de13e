"""Fault injection hooks: dropped watches, compaction, injected answers (429 with Retry-After,
500, 503, HTTP 410 on watch) for N matching requests then normal service, latency, restart,
and the token-guarded HTTP endpoint."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson
import pytest
from test_apiserver_support import WIDGETS, Http, widget, widget_crd

from framework.envtest import Environment

NAMESPACES = "/api/v1/namespaces"
FAULTS = "/kubeloop/faults"


async def ns(http: Http, name: str) -> str:
    """Create a namespace; its resourceVersion."""
    reply = await http.post(NAMESPACES, {"metadata": {"name": name}})
    assert reply.status == 201, reply.body
    return str(reply.body["metadata"]["resourceVersion"])


class Watch:
    """A raw watch stream: `next()` is the next event, None once the server ended it."""

    def __init__(self, http: Http, path: str, resource_version: str) -> None:
        self._http = http
        self._path = path
        self._rv = resource_version
        self.response: Any = None

    async def __aenter__(self) -> Watch:
        env = self._http.env
        self.response = await self._http.session.get(
            env.server_url + self._path,
            params={"watch": "true", "resourceVersion": self._rv},
            headers={"Authorization": f"Bearer {env.token}"},
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.response.close()

    async def next(self) -> Any:
        async with asyncio.timeout(10):
            line = await self.response.content.readline()
        return orjson.loads(line) if line else None


async def test_drop_watches_ends_every_stream(env: Environment, http: Http) -> None:
    rv = await ns(http, "a")
    async with Watch(http, NAMESPACES, rv) as first, Watch(http, "/api/v1/pods", rv) as second:
        await ns(http, "b")
        assert (await first.next())["object"]["metadata"]["name"] == "b"
        env.faults.drop_watches()
        assert await first.next() is None
        assert await second.next() is None
    async with Watch(http, NAMESPACES, rv) as resumed:  # the server is still up: resume works
        assert (await resumed.next())["object"]["metadata"]["name"] == "b"


async def test_compact_makes_older_resumes_expire(env: Environment, http: Http) -> None:
    old = await ns(http, "a")
    page = await http.get(NAMESPACES, params={"limit": "1"})
    current = await ns(http, "b")
    env.faults.compact()
    token = page.body["metadata"]["continue"]
    assert (await http.get(NAMESPACES, params={"continue": token})).status == 410
    async with Watch(http, NAMESPACES, old) as watch:
        event = await watch.next()
        assert event["type"] == "ERROR"
        assert (event["object"]["code"], event["object"]["reason"]) == (410, "Expired")
    async with Watch(http, NAMESPACES, current) as watch:
        await ns(http, "c")
        assert (await watch.next())["object"]["metadata"]["name"] == "c"


@pytest.mark.parametrize(
    ("status", "reason", "retry_after"),
    [(429, "TooManyRequests", 2), (500, "InternalError", None), (503, "ServiceUnavailable", 1)],
)
async def test_injected_answers_for_n_requests_then_normal(
    env: Environment, http: Http, status: int, reason: str, retry_after: int | None
) -> None:
    env.faults.inject(status=status, verb="GET", path_regex=r"/namespaces/default$", count=2)
    env.faults.inject(status=status, path_regex=r"/namespaces/kube-system$", retry_after=None)
    for _ in range(2):
        reply = await http.get(f"{NAMESPACES}/default")
        assert reply.status == status
        assert (reply.body["kind"], reply.body["reason"], reply.body["code"]) == (
            "Status",
            reason,
            status,
        )
        assert reply.headers.get("Retry-After") == "1"
        assert reply.body["details"] == {"retryAfterSeconds": 1}
    assert (await http.get(f"{NAMESPACES}/default")).status == 200
    reply = await http.get(f"{NAMESPACES}/kube-system")
    assert reply.status == status
    assert "Retry-After" not in reply.headers
    assert "details" not in reply.body
    assert (await http.get(f"{NAMESPACES}/kube-system")).status == 200
    env.faults.inject(status=status, count=None, retry_after=retry_after)
    for _ in range(3):  # until cleared
        reply = await http.get(f"{NAMESPACES}/kube-public")
        assert reply.status == status
        assert reply.headers.get("Retry-After") == (
            None if retry_after is None else str(retry_after)
        )
    env.faults.clear()
    assert (await http.get(f"{NAMESPACES}/kube-public")).status == 200


async def test_answered_writes_are_not_made_and_verbs_match_separately(
    env: Environment, http: Http
) -> None:
    env.faults.inject(status=503, verb="POST", path_regex="/namespaces$")
    env.faults.inject(status=500, verb="WATCH")
    assert (await http.get(NAMESPACES)).status == 200  # a list is no POST and no watch
    assert (await http.post(NAMESPACES, {"metadata": {"name": "x"}})).status == 503
    assert (await http.get(f"{NAMESPACES}/x")).status == 404
    await ns(http, "x")
    reply = await http.get(NAMESPACES, params={"watch": "1"})
    assert reply.status == 500
    assert env.faults.rules() == {"answers": [], "latencies": []}


async def test_watch_answered_http_410(env: Environment, http: Http) -> None:
    rv = await ns(http, "a")
    env.faults.expire_watches()
    assert (await http.get(NAMESPACES)).status == 200  # not a watch
    reply = await http.get(f"/api/v1/watch{NAMESPACES[7:]}", params={"resourceVersion": rv})
    assert reply.status == 410
    assert (reply.body["reason"], reply.body["code"]) == ("Expired", 410)
    async with Watch(http, NAMESPACES, rv) as watch:
        await ns(http, "b")
        assert (await watch.next())["object"]["metadata"]["name"] == "b"


async def test_latency_delays_matching_requests(env: Environment, http: Http) -> None:
    loop = asyncio.get_running_loop()
    env.faults.latency(0.3, verb="GET", path_regex="/namespaces/default$", count=1)
    env.faults.latency(0.2, verb="GET", path_regex="/namespaces/default$")
    start = loop.time()
    assert (await http.get(f"{NAMESPACES}/default")).status == 200
    assert loop.time() - start >= 0.5  # both rules add up
    start = loop.time()
    assert (await http.get(f"{NAMESPACES}/default")).status == 200
    assert loop.time() - start >= 0.2
    assert [r["seconds"] for r in env.faults.rules()["latencies"]] == [0.2]
    env.faults.clear()
    assert env.faults.rules()["latencies"] == []


async def test_restart_keeps_port_token_and_state(env: Environment, http: Http) -> None:
    await env.install_crds([widget_crd()])
    old = await ns(http, "a")
    assert (await http.post(WIDGETS, widget("w"))).status == 201
    url = env.server_url
    async with Watch(http, NAMESPACES, old) as watch:
        await env.faults.restart()
        assert await watch.next() is None
    assert env.server_url == url
    assert (await http.get(f"{WIDGETS}/w")).status == 200
    async with Watch(http, NAMESPACES, old) as watch:
        assert (await watch.next())["object"]["code"] == 410


async def test_http_endpoint_needs_the_token_and_drives_the_faults(
    env: Environment, http: Http
) -> None:
    body = {"action": "inject", "status": 429, "verb": "GET", "path_regex": "/default$"}
    reply = await http.post(FAULTS, body, headers={"Authorization": "Bearer wrong"})
    assert reply.status == 401
    assert env.faults.rules()["answers"] == []
    reply = await http.post(FAULTS, {**body, "count": 1})
    assert reply.status == 200
    assert reply.body["answers"] == [
        {"verb": "GET", "path_regex": "/default$", "count": 1, "status": 429, "retry_after": 1}
    ]
    assert (await http.get(FAULTS)).body["answers"] == reply.body["answers"]
    assert (await http.get(f"{NAMESPACES}/default")).status == 429
    assert (await http.get(f"{NAMESPACES}/default")).status == 200

    reply = await http.post(FAULTS, {"action": "latency", "seconds": 0.1, "verb": "PUT"})
    assert reply.body["latencies"] == [
        {"verb": "PUT", "path_regex": None, "count": None, "seconds": 0.1}
    ]
    assert (await http.post(FAULTS, {"action": "clear"})).body["latencies"] == []
    inject = {"action": "inject", "status": 500}
    for bad in (
        {"action": "explode"},
        {**inject, "status": 200},
        {**inject, "status": 499},
        {**inject, "verb": 5},
        {**inject, "path_regex": "("},
        {**inject, "count": 0},
        {**inject, "colour": "red"},
        {"action": "latency", "seconds": -1},
        [1],
        {"x": 1},
    ):
        reply = await http.post(FAULTS, bad)
        assert (reply.status, reply.body["reason"]) == (400, "BadRequest"), bad
    assert env.faults.rules() == {"answers": [], "latencies": []}

    rv = await ns(http, "a")
    async with Watch(http, NAMESPACES, rv) as watch:
        assert (await http.post(FAULTS, {"action": "drop_watches"})).status == 200
        assert await watch.next() is None
    await ns(http, "b")
    assert (await http.post(FAULTS, {"action": "compact"})).status == 200
    async with Watch(http, NAMESPACES, rv) as watch:
        assert (await watch.next())["object"]["code"] == 410
    current = str(env.store.resource_version)
    async with Watch(http, NAMESPACES, current) as watch:
        assert (await http.post(FAULTS, {"action": "restart"})).status == 202
        assert await watch.next() is None  # ended by the restart
    async with asyncio.timeout(10):  # back on the same port once restarted
        while not await ready(http):  # noqa: ASYNC110 (no event signals a restart)
            await asyncio.sleep(0.01)
    assert (await http.get(f"{NAMESPACES}/b")).status == 200


async def ready(http: Http) -> bool:
    try:
        return (await http.get("/readyz")).status == 200
    except aiohttp.ClientError:
        return False
