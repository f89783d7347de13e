"""Client against a scripted aiohttp server: retry policy, error mapping, verbs' wire format,
pagination, discovery, and create_or_update / create_or_patch results."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from kubernetes_asyncio.client import Configuration
from prometheus_client import REGISTRY, CollectorRegistry
from structlog.testing import capture_logs

from framework.client import Client, OperationResult, Preconditions, RetryPolicy
from framework.clock import FakeClock
from framework.errors import (
    AlreadyExists,
    ApiError,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NoKindMatch,
    NotFound,
    TooManyRequests,
    Unauthorized,
    error_from_response,
)
from framework.models import KubeObject
from framework.resources import GroupVersionKind, ResourceInfo
from framework.selectors import LabelSelector

WIDGET = ResourceInfo(
    gvk=GroupVersionKind("example.dev", "v1", "Widget"),
    plural="widgets",
    singular="widget",
    namespaced=True,
    subresources=frozenset({"status"}),
)
WIDGETS = "/apis/example.dev/v1/namespaces/ns/widgets"


class Widget(KubeObject):
    __resource__ = WIDGET

    spec: dict[str, Any] = {}
    status: dict[str, Any] | None = None


def widget(name: str = "w", rv: str = "1", **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.dev/v1",
        "kind": "Widget",
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv},
        **extra,
    }


def status_body(code: int, reason: str, **details: Any) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": f"{reason} happened",
        "reason": reason,
        "details": details,
        "code": code,
    }


DROP = "drop"


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    raw_path: str = ""


class ScriptedServer:
    """Answers each request with the next scripted reply (or drops the connection)."""

    def __init__(self) -> None:
        self.script: deque[Reply | str] = deque()
        self.seen: list[Seen] = []
        self.url = ""

    def then(self, *replies: Reply | str) -> None:
        self.script.extend(replies)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.seen.append(
            Seen(
                request.method,
                request.path,
                dict(request.query),
                dict(request.headers),
                orjson.loads(raw) if raw else None,
                request.raw_path,
            )
        )
        reply = self.script.popleft() if self.script else Reply(500, {"unscripted": True})
        if reply == DROP:
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        assert isinstance(reply, Reply)
        return web.Response(
            status=reply.status,
            body=orjson.dumps(reply.body) if reply.body is not None else b"",
            headers={"Content-Type": "application/json", **reply.headers},
        )


class RecordingClock(FakeClock):
    """Sleeps return at once; the requested delays are recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(max(seconds, 0.0))


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    scripted = ScriptedServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", scripted.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    scripted.url = f"http://{host}:{port}"
    yield scripted
    await runner.cleanup()


@pytest.fixture
def clock() -> RecordingClock:
    return RecordingClock()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
async def client(
    server: ScriptedServer, clock: RecordingClock, registry: CollectorRegistry
) -> AsyncIterator[Client]:
    configuration = Configuration(host=server.url)
    configuration.api_key["BearerToken"] = "Bearer secret-token"
    async with Client(
        configuration,
        registry=registry,
        clock=clock,
        retry=RetryPolicy(attempts=4, backoff_initial=0.1, backoff_max=1.0, retry_after_max=10),
    ) as created:
        created.resources.register(WIDGET)
        yield created


def requests_total(registry: CollectorRegistry, code: str, method: str) -> float:
    value = registry.get_sample_value(
        "rest_client_requests_total", {"code": code, "method": method}
    )
    return value or 0.0


def retries_total(registry: CollectorRegistry, method: str) -> float:
    return sum(
        sample.value
        for metric in registry.collect()
        if metric.name == "rest_client_request_retries"
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels["method"] == method
    )


# --- retries ------------------------------------------------------------------------------


async def test_read_retries_429_after_the_delay_the_server_asked_for(
    server: ScriptedServer, client: Client, clock: RecordingClock, registry: CollectorRegistry
) -> None:
    server.then(
        Reply(429, status_body(429, "TooManyRequests"), {"Retry-After": "3"}),
        Reply(200, widget()),
    )
    with capture_logs() as logs:
        got = await client.get(WIDGET, "w", namespace="ns")
    assert got["metadata"]["name"] == "w"
    assert clock.sleeps == [3.0]
    assert [(log["method"], log["path"], log["attempt"], log["delay"]) for log in logs] == [
        ("GET", f"{WIDGETS}/w", 1, 3.0)
    ]
    assert requests_total(registry, "429", "GET") == 1
    assert requests_total(registry, "200", "GET") == 1
    assert retries_total(registry, "GET") == 1


async def test_read_retries_5xx_and_dropped_connections_with_backoff(
    server: ScriptedServer, client: Client, clock: RecordingClock, registry: CollectorRegistry
) -> None:
    server.then(
        DROP, Reply(500, status_body(500, "InternalError")), Reply(503), Reply(200, widget())
    )
    got = await client.get(Widget, "w", namespace="ns")
    assert isinstance(got, Widget)
    assert len(server.seen) == 4
    assert len(clock.sleeps) == 3
    assert all(0 < delay <= 1.0 for delay in clock.sleeps)
    assert requests_total(registry, "<error>", "GET") == 1
    assert retries_total(registry, "GET") == 3


async def test_read_retries_are_bounded(
    server: ScriptedServer, client: Client, registry: CollectorRegistry
) -> None:
    server.then(*[Reply(500, status_body(500, "InternalError"))] * 10)
    with pytest.raises(ApiError) as raised:
        await client.get(WIDGET, "w", namespace="ns")
    assert raised.value.status == 500
    assert len(server.seen) == 4
    assert requests_total(registry, "500", "GET") == 4


async def test_server_delay_is_capped(
    server: ScriptedServer, client: Client, clock: RecordingClock
) -> None:
    server.then(Reply(429, status_body(429, "TooManyRequests"), {"Retry-After": "900"}))
    server.then(Reply(200, widget()))
    await client.get(WIDGET, "w", namespace="ns")
    assert clock.sleeps == [10.0]


async def test_write_retries_429_and_503_that_carry_retry_after(
    server: ScriptedServer, client: Client, clock: RecordingClock, registry: CollectorRegistry
) -> None:
    server.then(
        Reply(429, status_body(429, "TooManyRequests"), {"Retry-After": "1"}),
        Reply(503, status_body(503, "ServiceUnavailable", retryAfterSeconds=2)),
        Reply(201, widget()),
    )
    created = await client.create(widget())
    assert created["metadata"]["resourceVersion"] == "1"
    assert clock.sleeps == [1.0, 2.0]
    assert [seen.method for seen in server.seen] == ["POST"] * 3
    assert retries_total(registry, "POST") == 2


@pytest.mark.parametrize(
    "reply",
    [
        Reply(503, status_body(503, "ServiceUnavailable")),
        Reply(500, status_body(500, "InternalError"), {"Retry-After": "1"}),
        Reply(504, status_body(504, "Timeout"), {"Retry-After": "1"}),
    ],
)
async def test_write_is_not_retried_without_a_server_delay_or_on_other_codes(
    server: ScriptedServer, client: Client, registry: CollectorRegistry, reply: Reply
) -> None:
    server.then(reply, Reply(201, widget()))
    with pytest.raises(ApiError) as raised:
        await client.create(widget())
    assert raised.value.status == reply.status
    assert len(server.seen) == 1
    assert retries_total(registry, "POST") == 0


async def test_generate_name_create_is_never_repeated_after_a_dropped_connection(
    server: ScriptedServer, client: Client, registry: CollectorRegistry
) -> None:
    server.then(DROP, Reply(201, widget("w-abcde")))
    obj = widget()
    obj["metadata"] = {"generateName": "w-", "namespace": "ns"}
    with pytest.raises(aiohttp.ClientError):
        await client.create(obj)
    assert len(server.seen) == 1
    assert requests_total(registry, "<error>", "POST") == 1
    assert retries_total(registry, "POST") == 0


WRITES: dict[str, Callable[[Client], Awaitable[object]]] = {
    "PATCH": lambda c: c.patch(WIDGET, "w", {"spec": {"a": 1}}, namespace="ns"),
    "PUT": lambda c: c.update(widget()),
    "DELETE": lambda c: c.delete(WIDGET, "w", namespace="ns"),
}


@pytest.mark.parametrize("method", WRITES)
async def test_other_writes_are_never_repeated_after_a_dropped_connection(
    server: ScriptedServer, client: Client, registry: CollectorRegistry, method: str
) -> None:
    server.then(DROP, Reply(200, widget()))
    with pytest.raises(aiohttp.ClientError):
        await WRITES[method](client)
    assert [seen.method for seen in server.seen] == [method]
    assert requests_total(registry, "<error>", method) == 1


async def test_metrics_go_to_the_given_registry_only(
    server: ScriptedServer, client: Client, registry: CollectorRegistry
) -> None:
    server.then(Reply(200, widget()))
    await client.get(WIDGET, "w", namespace="ns")
    assert requests_total(registry, "200", "GET") == 1
    assert REGISTRY.get_sample_value("rest_client_requests_total", {"code": "200"}) is None


async def test_clients_sharing_a_registry_share_the_counters(
    server: ScriptedServer, client: Client, registry: CollectorRegistry
) -> None:
    server.then(Reply(200, widget()), Reply(200, widget()))
    async with Client(Configuration(host=server.url), registry=registry) as second:
        await second.get(WIDGET, "w", namespace="ns")
    await client.get(WIDGET, "w", namespace="ns")
    assert requests_total(registry, "200", "GET") == 2


async def test_a_401_reloads_the_credentials_and_sends_once_more(
    server: ScriptedServer, clock: RecordingClock
) -> None:
    configuration = Configuration(host=server.url)
    configuration.api_key["BearerToken"] = "Bearer expired"
    reloads: list[str] = []

    async def reload() -> None:
        reloads.append("reload")
        configuration.api_key["BearerToken"] = "Bearer fresh"

    unauthorized = Reply(401, status_body(401, "Unauthorized"))
    server.then(unauthorized, Reply(201, widget()), unauthorized, unauthorized)
    async with Client(configuration, clock=clock, refresh_credentials=reload) as client:
        client.resources.register(WIDGET)
        await client.create(widget())
        with pytest.raises(Unauthorized):
            await client.get(WIDGET, "w", namespace="ns")
    tokens = [seen.headers["Authorization"] for seen in server.seen]
    assert tokens == ["Bearer expired", "Bearer fresh", "Bearer fresh", "Bearer fresh"]
    assert reloads == ["reload", "reload"]
    assert clock.sleeps == []


async def test_a_401_without_a_way_to_reload_is_final(
    server: ScriptedServer, client: Client
) -> None:
    server.then(Reply(401, status_body(401, "Unauthorized")), Reply(200, widget()))
    with pytest.raises(Unauthorized):
        await client.get(WIDGET, "w", namespace="ns")
    assert len(server.seen) == 1


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "reason", "expected"),
    [
        (404, "NotFound", NotFound),
        (409, "AlreadyExists", AlreadyExists),
        (409, "Conflict", Conflict),
        (422, "Invalid", Invalid),
        (410, "Gone", Gone),
        (410, "Expired", Gone),
        (403, "Forbidden", Forbidden),
        (401, "Unauthorized", Unauthorized),
        (429, "TooManyRequests", TooManyRequests),
        (400, "BadRequest", ApiError),
    ],
)
def test_status_reason_picks_the_error_type(
    code: int, reason: str, expected: type[ApiError]
) -> None:
    error = error_from_response(code, orjson.dumps(status_body(code, reason)), None)
    assert type(error) is expected
    assert (error.status, error.reason, error.message) == (code, reason, f"{reason} happened")


def test_invalid_carries_its_causes() -> None:
    body = status_body(
        422,
        "Invalid",
        causes=[{"reason": "FieldValueRequired", "message": "Required value", "field": "spec.x"}],
    )
    error = error_from_response(422, orjson.dumps(body), None)
    assert isinstance(error, Invalid)
    assert [(c.reason, c.message, c.field) for c in error.causes] == [
        ("FieldValueRequired", "Required value", "spec.x")
    ]


def test_a_body_that_is_not_a_status_maps_by_code() -> None:
    error = error_from_response(404, b"404 page not found", "7")
    assert isinstance(error, NotFound)
    assert error.message == "404 page not found"
    assert error.retry_after == 7.0


def test_retry_after_header_wins_over_status_details() -> None:
    body = orjson.dumps(status_body(429, "TooManyRequests", retryAfterSeconds=9))
    assert error_from_response(429, body, "2").retry_after == 2.0
    assert error_from_response(429, body, None).retry_after == 9.0
    assert error_from_response(429, body, "Wed, 21 Oct 2015 07:28:00 GMT").retry_after == 9.0


async def test_client_raises_the_typed_error(server: ScriptedServer, client: Client) -> None:
    server.then(Reply(404, status_body(404, "NotFound")))
    with pytest.raises(NotFound):
        await client.get(WIDGET, "missing", namespace="ns")
    assert len(server.seen) == 1


# --- verbs on the wire --------------------------------------------------------------------


async def test_requests_carry_the_bearer_token_and_json_accept(
    server: ScriptedServer, client: Client
) -> None:
    server.then(Reply(200, widget()))
    await client.get(WIDGET, "w", namespace="ns")
    headers = server.seen[0].headers
    assert headers["Authorization"] == "Bearer secret-token"
    assert headers["Accept"] == "application/json"


async def test_proxy_variables_are_not_consulted(
    server: ScriptedServer, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")
    for variable in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(variable, raising=False)
    server.then(Reply(200, widget()))
    assert (await client.get(WIDGET, "w", namespace="ns"))["kind"] == "Widget"


@pytest.mark.parametrize(
    ("patch_type", "content_type", "sent"),
    [
        (
            "merge",
            "application/merge-patch+json",
            {"spec": {"a": 1}, "metadata": {"resourceVersion": "7"}},
        ),
        (
            "json",
            "application/json-patch+json",
            [
                {"op": "replace", "path": "/metadata/resourceVersion", "value": "7"},
                {"op": "add", "path": "/spec/a", "value": 1},
            ],
        ),
    ],
)
async def test_patch_sends_its_content_type_and_optimistic_lock(
    server: ScriptedServer, client: Client, patch_type: Any, content_type: str, sent: Any
) -> None:
    server.then(Reply(200, widget()))
    body: Any = {"spec": {"a": 1}} if patch_type == "merge" else sent[1:]
    await client.patch(
        WIDGET,
        "w",
        body,
        namespace="ns",
        patch_type=patch_type,
        subresource="status",
        resource_version="7",
        field_manager="me",
    )
    seen = server.seen[0]
    assert (seen.method, seen.path) == ("PATCH", f"{WIDGETS}/w/status")
    assert seen.headers["Content-Type"] == content_type
    assert seen.query == {"fieldManager": "me"}
    assert seen.body == sent


async def test_create_update_delete_on_the_wire(server: ScriptedServer, client: Client) -> None:
    server.then(Reply(201, widget()), Reply(200, widget(rv="2")), Reply(200, widget(rv="2")))
    created = await client.create(Widget(metadata={"name": "w", "namespace": "ns"}), dry_run=True)
    assert isinstance(created, Widget)
    created.spec["x"] = 1
    await client.update(created)
    await client.delete(
        WIDGET,
        "w",
        namespace="ns",
        propagation_policy="Foreground",
        preconditions=Preconditions(uid="u1", resource_version="2"),
    )
    post, put, delete = server.seen
    assert (post.method, post.path, post.query) == ("POST", WIDGETS, {"dryRun": "All"})
    assert post.body["apiVersion"] == "example.dev/v1"
    assert post.body["kind"] == "Widget"
    assert (put.method, put.path) == ("PUT", f"{WIDGETS}/w")
    assert put.body["spec"] == {"x": 1}
    assert put.body["metadata"]["resourceVersion"] == "1"
    assert (delete.method, delete.path) == ("DELETE", f"{WIDGETS}/w")
    assert delete.body == {
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "propagationPolicy": "Foreground",
        "preconditions": {"uid": "u1", "resourceVersion": "2"},
    }


async def test_namespaced_kind_needs_a_namespace(client: Client) -> None:
    with pytest.raises(ValueError, match="namespaced"):
        await client.get(WIDGET, "w")
    with pytest.raises(ValueError, match="namespaced"):
        await client.create({**widget(), "metadata": {"name": "w"}})


async def test_a_dict_needs_its_type_meta(client: Client) -> None:
    with pytest.raises(ValueError, match="apiVersion and kind"):
        await client.create({"metadata": {"name": "w", "namespace": "ns"}})


def page(names: list[str], continue_token: str = "") -> dict[str, Any]:
    items = [{"metadata": {"name": n, "namespace": "ns"}} for n in names]
    return {
        "kind": "WidgetList",
        "metadata": {"resourceVersion": "9", "continue": continue_token},
        "items": items,
    }


async def test_list_follows_continue_tokens_and_fills_type_meta(
    server: ScriptedServer, client: Client
) -> None:
    server.then(Reply(200, page(["a", "b"], "t1")), Reply(200, page(["c"])))
    listed = await client.list(
        Widget, namespace="ns", limit=2, label_selector={"app": "x"}, field_selector="a=b"
    )
    assert [w.metadata.name for w in listed.items] == ["a", "b", "c"]
    assert all(w.kind == "Widget" and w.api_version == "example.dev/v1" for w in listed.items)
    assert listed.resource_version == "9"
    assert listed.continue_token is None
    first, second = server.seen
    assert first.query == {"labelSelector": "app=x", "fieldSelector": "a=b", "limit": "2"}
    assert second.query == {**first.query, "continue": "t1"}


async def test_list_redoes_an_expired_pagination_in_one_request(
    server: ScriptedServer, client: Client
) -> None:
    server.then(
        Reply(200, page(["a"], "t1")),
        Reply(410, status_body(410, "Expired")),
        Reply(200, page(["a", "b"])),
    )
    listed = await client.list(
        WIDGET, namespace="ns", limit=1, label_selector=LabelSelector.parse("x in (1,2)")
    )
    assert [w["metadata"]["name"] for w in listed.items] == ["a", "b"]
    assert "limit" not in server.seen[2].query
    assert server.seen[2].query["labelSelector"] == "x in (1,2)"


async def test_pages_resume_from_a_continue_token(server: ScriptedServer, client: Client) -> None:
    server.then(Reply(200, page(["c"])))
    pages = [p async for p in client.pages(WIDGET, namespace="ns", continue_token="t1", limit=2)]
    assert [w["metadata"]["name"] for w in pages[0].items] == ["c"]
    assert server.seen[0].query == {"limit": "2", "continue": "t1"}


async def test_pages_yield_one_page_at_a_time(server: ScriptedServer, client: Client) -> None:
    server.then(Reply(200, page(["a"], "t1")), Reply(200, page(["b"])))
    pages = [p async for p in client.pages(WIDGET, namespace="ns")]
    assert [[w["metadata"]["name"] for w in p.items] for p in pages] == [["a"], ["b"]]
    assert server.seen[0].query == {"limit": "500"}


# --- discovery ----------------------------------------------------------------------------


def discovery(group_version: str, kind: str, plural: str) -> dict[str, Any]:
    return {
        "kind": "APIResourceList",
        "groupVersion": group_version,
        "resources": [
            {
                "name": plural,
                "singularName": kind.lower(),
                "namespaced": False,
                "kind": kind,
                "verbs": ["get", "list"],
                "shortNames": ["ws"],
            },
            {"name": f"{plural}/status", "namespaced": False, "kind": kind, "verbs": ["get"]},
        ],
    }


async def test_unknown_kinds_are_learnt_from_discovery_without_keying_on_plural(
    server: ScriptedServer, client: Client
) -> None:
    ours = GroupVersionKind("kubeloop.dev", "v1", "Workspace")
    theirs = GroupVersionKind("tf.upbound.io", "v1beta1", "Workspace")
    server.then(
        Reply(200, discovery("kubeloop.dev/v1", "Workspace", "workspaces")),
        Reply(200, {"metadata": {"name": "a"}}),
        Reply(200, discovery("tf.upbound.io/v1beta1", "Workspace", "workspaces")),
        Reply(200, {"metadata": {"name": "b"}}),
    )
    await client.get(ours, "a")
    await client.get(theirs, "b")
    assert [s.path for s in server.seen] == [
        "/apis/kubeloop.dev/v1",
        "/apis/kubeloop.dev/v1/workspaces/a",
        "/apis/tf.upbound.io/v1beta1",
        "/apis/tf.upbound.io/v1beta1/workspaces/b",
    ]
    info = client.resources.get(theirs)
    assert info is not None
    assert (info.plural, info.namespaced, info.subresources) == (
        "workspaces",
        False,
        frozenset({"status"}),
    )
    assert client.resources.get(ours) is not None


async def test_a_kind_nobody_serves_is_no_match(server: ScriptedServer, client: Client) -> None:
    server.then(Reply(404, status_body(404, "NotFound")))
    with pytest.raises(NoKindMatch):
        await client.get(GroupVersionKind("nowhere.dev", "v1", "Ghost"), "g")


# --- create_or_update / create_or_patch ---------------------------------------------------


def set_spec(obj: Widget) -> None:
    obj.spec["size"] = 3


async def test_create_or_update_creates_when_absent(server: ScriptedServer, client: Client) -> None:
    server.then(Reply(404, status_body(404, "NotFound")), Reply(201, widget(spec={"size": 3})))
    obj, result = await client.create_or_update(
        Widget(metadata={"name": "w", "namespace": "ns"}), set_spec
    )
    assert result is OperationResult.CREATED
    assert obj.spec == {"size": 3}
    assert server.seen[1].body["spec"] == {"size": 3}


async def test_create_or_update_unchanged_sends_nothing(
    server: ScriptedServer, client: Client
) -> None:
    server.then(Reply(200, widget(spec={"size": 3})))
    _, result = await client.create_or_update(
        Widget(metadata={"name": "w", "namespace": "ns"}), set_spec
    )
    assert result is OperationResult.UNCHANGED
    assert len(server.seen) == 1


async def test_create_or_update_updates_with_an_async_mutation(
    server: ScriptedServer, client: Client
) -> None:
    server.then(Reply(200, widget(spec={"size": 1})), Reply(200, widget(rv="2", spec={"size": 3})))

    async def mutate(obj: dict[str, Any]) -> None:
        obj["spec"]["size"] = 3

    obj, result = await client.create_or_update(widget(), mutate)
    assert result is OperationResult.UPDATED
    assert obj["metadata"]["resourceVersion"] == "2"
    put = server.seen[1]
    assert (put.method, put.body["spec"], put.body["metadata"]["resourceVersion"]) == (
        "PUT",
        {"size": 3},
        "1",
    )


async def test_mutation_may_not_rename(server: ScriptedServer, client: Client) -> None:
    server.then(Reply(200, widget()))

    def rename(obj: Widget) -> None:
        obj.metadata.name = "other"

    with pytest.raises(ValueError, match="name or namespace"):
        await client.create_or_update(Widget(metadata={"name": "w", "namespace": "ns"}), rename)


@pytest.mark.parametrize(
    ("change_spec", "change_status", "expected", "paths"),
    [
        (False, False, OperationResult.UNCHANGED, []),
        (True, False, OperationResult.UPDATED, [f"{WIDGETS}/w"]),
        (True, True, OperationResult.UPDATED_STATUS, [f"{WIDGETS}/w", f"{WIDGETS}/w/status"]),
        (False, True, OperationResult.UPDATED_STATUS_ONLY, [f"{WIDGETS}/w/status"]),
    ],
)
async def test_create_or_patch_results(
    server: ScriptedServer,
    client: Client,
    change_spec: bool,
    change_status: bool,
    expected: OperationResult,
    paths: list[str],
) -> None:
    stored = widget(spec={"size": 1}, status={"phase": "A", "atProvider": {"id": "x"}})
    server.then(Reply(200, stored), Reply(200, stored), Reply(200, stored))

    def mutate(obj: Widget) -> None:
        if change_spec:
            obj.spec["size"] = 2
        if change_status:
            assert obj.status is not None
            obj.status["phase"] = "B"

    _, result = await client.create_or_patch(
        Widget(metadata={"name": "w", "namespace": "ns"}), mutate
    )
    assert result is expected
    patches = server.seen[1:]
    assert [p.path for p in patches] == paths
    assert all(p.headers["Content-Type"] == "application/merge-patch+json" for p in patches)
    bodies = [p.body for p in patches]
    if change_spec:
        assert bodies[0] == {"spec": {"size": 2}}
    if change_status:
        assert bodies[-1] == {"status": {"phase": "B"}}


async def test_create_or_patch_locks_a_patch_that_holds_a_list(
    server: ScriptedServer, client: Client
) -> None:
    server.then(Reply(200, widget(rv="5", spec={"items": [1]})), Reply(200, widget(rv="6")))

    def mutate(obj: dict[str, Any]) -> None:
        obj["spec"]["items"].append(2)

    patched, result = await client.create_or_patch(widget(), mutate)
    assert result is OperationResult.UPDATED
    assert patched["metadata"]["resourceVersion"] == "6"
    assert server.seen[1].body == {"spec": {"items": [1, 2]}, "metadata": {"resourceVersion": "5"}}


# --- low-level requests -------------------------------------------------------------------


async def test_request_returns_the_raw_answer(server: ScriptedServer, client: Client) -> None:
    server.then(Reply(201, {"ok": True}, {"X-Test": "1"}))
    response = await client.request(
        "POST", "/apis/x/v1/things", query=[("a", "b")], body=b'{"raw":1}'
    )
    assert (response.status, response.json(), response.headers["X-Test"]) == (
        201,
        {"ok": True},
        "1",
    )
    seen = server.seen[0]
    assert (seen.path, seen.query, seen.body) == ("/apis/x/v1/things", {"a": "b"}, {"raw": 1})
    assert seen.headers["Content-Type"] == "application/json"


async def test_stream_hands_out_the_open_response(
    server: ScriptedServer, client: Client, registry: CollectorRegistry
) -> None:
    server.then(Reply(200, {"type": "ADDED"}))
    async with client.stream("GET", WIDGETS, query=[("watch", "1")]) as response:
        assert orjson.loads(await response.content.readline()) == {"type": "ADDED"}
    assert server.seen[0].query == {"watch": "1"}
    assert requests_total(registry, "200", "GET") == 1


async def test_stream_raises_typed_errors_without_retrying(
    server: ScriptedServer, client: Client
) -> None:
    server.then(
        Reply(410, status_body(410, "Expired")),
        Reply(503, status_body(503, "ServiceUnavailable"), {"Retry-After": "1"}),
    )
    with pytest.raises(Gone):
        async with client.stream("GET", WIDGETS):
            pytest.fail("an error answer is not handed out")
    with pytest.raises(ApiError) as raised:
        async with client.stream("GET", WIDGETS):
            pytest.fail("an error answer is not handed out")
    assert raised.value.status == 503
    assert len(server.seen) == 2


async def test_names_are_percent_encoded_on_the_wire(
    server: ScriptedServer, client: Client
) -> None:
    server.then(Reply(200, widget("a b%c")), Reply(200, widget("x")))
    await client.get(WIDGET, "a b%c", namespace="ns")
    await client.patch(WIDGET, "x", {"spec": {}}, namespace="ns", field_manager="me too")
    assert server.seen[0].path == f"{WIDGETS}/a b%c"
    assert server.seen[0].raw_path == f"{WIDGETS}/a%20b%25c"
    assert server.seen[1].raw_path == f"{WIDGETS}/x?fieldManager=me+too"
    assert server.seen[1].headers["Content-Length"] == str(len(orjson.dumps({"spec": {}})))


async def test_through_a_proxy_requests_go_through_aiohttp(
    server: ScriptedServer, registry: CollectorRegistry
) -> None:
    # The scripted server stands in for the proxy: it reads the absolute-form request target.
    configuration = Configuration(host=server.url)
    configuration.proxy = server.url
    server.then(Reply(200, widget()), Reply(404, status_body(404, "NotFound")))
    async with Client(configuration, registry=registry) as proxied:
        proxied.resources.register(WIDGET)
        assert (await proxied.get(WIDGET, "w", namespace="ns"))["kind"] == "Widget"
        with pytest.raises(NotFound):
            await proxied.get(WIDGET, "gone", namespace="ns")
    assert [seen.path for seen in server.seen] == [f"{WIDGETS}/w", f"{WIDGETS}/gone"]
    assert server.seen[0].raw_path == f"{server.url}{WIDGETS}/w"  # sent to a proxy
    assert requests_total(registry, "404", "GET") == 1
