"""Watch semantics: initial state, resume, 410 after the window, bookmarks, timeouts,
selector transitions, Table events, watch-list, slow watchers; with kubernetes-asyncio too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
from kubernetes_asyncio import client, watch
from test_apiserver_support import WIDGETS, Http, open_http, widget

from framework.envtest import Environment
from framework.envtest.apiserver.storage import MemoryStorage

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


class Stream:
    """An open watch: the server has registered it once `open()` returns."""

    def __init__(self, http: Http, path: str, headers: dict[str, str] | None, params: Any) -> None:
        self._http = http
        self._path = path
        self._headers = {"Authorization": f"Bearer {http.env.token}", **(headers or {})}
        self._params = {"watch": "true", **params}
        self._response: Any = None

    async def open(self) -> Stream:
        self._response = await self._http.session.get(
            self._http.env.server_url + self._path, params=self._params, headers=self._headers
        )
        assert self._response.status == 200
        return self

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._events()

    async def _events(self) -> AsyncIterator[dict[str, Any]]:
        async for line in self._response.content:
            if line.strip():
                yield orjson.loads(line)

    async def aclose(self) -> None:
        self._response.close()


async def events(
    http: Http, path: str, headers: dict[str, str] | None = None, **params: str
) -> Stream:
    return await Stream(http, path, headers, params).open()


async def collect(stream: Stream, count: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    iterator = aiter(stream)
    async with asyncio.timeout(10):
        while len(out) < count:
            try:
                out.append(await anext(iterator))
            except StopAsyncIteration:
                break
    return out


def summary(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"].get("name", "")) for e in items]


async def test_watch_from_now_sends_current_objects_then_changes(http: Http) -> None:
    await http.post(CONFIGMAPS, {"metadata": {"name": "a"}})
    stream = await events(http, CONFIGMAPS)
    first = await collect(stream, 1)
    await http.patch(f"{CONFIGMAPS}/a", {"data": {"k": "v"}})
    await http.delete(f"{CONFIGMAPS}/a")
    rest = await collect(stream, 2)
    assert summary(first + rest) == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]
    assert rest[0]["object"]["data"] == {"k": "v"}
    assert int(rest[1]["object"]["metadata"]["resourceVersion"]) > int(
        rest[0]["object"]["metadata"]["resourceVersion"]
    )
    await stream.aclose()


async def test_watch_resumes_after_a_resource_version(http: Http) -> None:
    created = await http.post(CONFIGMAPS, {"metadata": {"name": "a"}})
    await http.post(CONFIGMAPS, {"metadata": {"name": "b"}})
    await http.post("/api/v1/namespaces/default/secrets", {"metadata": {"name": "other"}})
    await http.delete(f"{CONFIGMAPS}/a")
    rv = created.body["metadata"]["resourceVersion"]
    got = await collect(await events(http, CONFIGMAPS, resourceVersion=rv), 2)
    assert summary(got) == [("ADDED", "b"), ("DELETED", "a")]


async def test_watch_older_than_the_window_is_410_in_an_error_event() -> None:
    async with Environment(event_window=3) as env, open_http(env) as http:
        created = await http.post(CONFIGMAPS, {"metadata": {"name": "a"}})
        for i in range(5):
            await http.patch(f"{CONFIGMAPS}/a", {"data": {"i": str(i)}})
        rv = created.body["metadata"]["resourceVersion"]
        got = await collect(await events(http, CONFIGMAPS, resourceVersion=rv), 1)
        status = got[0]["object"]
        assert got[0]["type"] == "ERROR"
        assert status["code"] == 410
        assert status["reason"] == "Expired"
        assert status["message"].startswith("too old resource version")


async def test_bookmarks_and_timeout() -> None:
    async with Environment(bookmark_interval=0.05) as env, open_http(env) as http:
        await http.post(CONFIGMAPS, {"metadata": {"name": "a"}})
        got = await collect(
            await events(http, CONFIGMAPS, allowWatchBookmarks="true", timeoutSeconds="1"), 100
        )
        assert got[0]["type"] == "ADDED"
        bookmarks = [e for e in got if e["type"] == "BOOKMARK"]
        assert bookmarks
        assert bookmarks[0]["object"]["kind"] == "ConfigMap"
        assert bookmarks[0]["object"]["metadata"]["resourceVersion"] == str(
            env.store.resource_version
        )
        # the stream ended by itself (timeoutSeconds=1) before 100 events
        assert len(got) < 100


async def test_timeout_without_bookmarks_ends_the_stream(http: Http) -> None:
    got = await collect(await events(http, CONFIGMAPS, timeoutSeconds="1"), 5)
    assert got == []


async def test_selector_watch_reports_matching_transitions(http: Http) -> None:
    stream = await events(http, CONFIGMAPS, labelSelector="team=a")
    await http.post(CONFIGMAPS, {"metadata": {"name": "x", "labels": {"team": "b"}}})
    await http.patch(f"{CONFIGMAPS}/x", {"metadata": {"labels": {"team": "a"}}})
    await http.patch(f"{CONFIGMAPS}/x", {"data": {"k": "v"}})
    await http.patch(f"{CONFIGMAPS}/x", {"metadata": {"labels": {"team": "c"}}})
    await http.delete(f"{CONFIGMAPS}/x")
    await http.post(CONFIGMAPS, {"metadata": {"name": "y", "labels": {"team": "a"}}})
    got = await collect(stream, 4)
    assert summary(got) == [
        ("ADDED", "x"),
        ("MODIFIED", "x"),
        ("DELETED", "x"),
        ("ADDED", "y"),
    ]
    await stream.aclose()


async def test_field_selector_watch_on_one_name(http: Http) -> None:
    stream = await events(http, CONFIGMAPS, fieldSelector="metadata.name=b")
    await http.post(CONFIGMAPS, {"metadata": {"name": "a"}})
    await http.post(CONFIGMAPS, {"metadata": {"name": "b"}})
    got = await collect(stream, 1)
    assert summary(got) == [("ADDED", "b")]
    await stream.aclose()


async def test_table_watch_events_carry_one_row_tables(crd_env: Environment, http: Http) -> None:
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    await http.post(WIDGETS, widget("w", size=3))
    stream = await events(http, WIDGETS, headers={"Accept": accept})
    await http.patch(f"{WIDGETS}/w/status", {"status": {"phase": "Running"}})
    got = await collect(stream, 2)
    first, second = (e["object"] for e in got)
    assert first["kind"] == "Table"
    assert [c["name"] for c in first["columnDefinitions"]][:3] == ["Name", "Size", "Phase"]
    assert first["rows"][0]["cells"][:3] == ["w", 3, None]
    assert second["rows"][0]["cells"][:3] == ["w", 3, "Running"]
    assert [e["type"] for e in got] == ["ADDED", "MODIFIED"]
    await stream.aclose()


async def test_watch_list_ends_initial_events_with_a_bookmark(http: Http) -> None:
    await http.post(CONFIGMAPS, {"metadata": {"name": "a"}})
    got = await collect(
        await events(
            http,
            CONFIGMAPS,
            sendInitialEvents="true",
            resourceVersionMatch="NotOlderThan",
            allowWatchBookmarks="true",
        ),
        2,
    )
    assert got[0]["type"] == "ADDED"
    assert got[1]["type"] == "BOOKMARK"
    annotations = got[1]["object"]["metadata"]["annotations"]
    assert annotations == {"k8s.io/initial-events-end": "true"}


async def test_slow_watcher_is_closed_not_waited_for() -> None:
    storage = MemoryStorage()
    watcher = storage.watch("configmaps", None, None, maxsize=2)
    for i in range(5):
        storage.create("configmaps", {"metadata": {"name": f"c{i}", "namespace": "default"}})
    assert watcher.closed
    assert await watcher.next() is None
    assert storage.resource_version == 5


async def test_deleting_a_crd_closes_its_watches(crd_env: Environment, http: Http) -> None:
    await http.post(WIDGETS, widget("w"))
    stream = await events(http, WIDGETS)
    first = await collect(stream, 1)
    await http.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")
    rest = [e async for e in stream]
    assert summary(first + rest) == [("ADDED", "w"), ("DELETED", "w")]


async def test_kubernetes_asyncio_watch(crd_env: Environment, api: client.ApiClient) -> None:
    objects = client.CustomObjectsApi(api)
    await objects.create_namespaced_custom_object(
        "example.com", "v1", "default", "widgets", widget("a")
    )
    listed = await objects.list_namespaced_custom_object("example.com", "v1", "default", "widgets")
    rv = listed["metadata"]["resourceVersion"]
    stream = watch.Watch().stream(
        objects.list_namespaced_custom_object,
        "example.com",
        "v1",
        "default",
        "widgets",
        resource_version=rv,
        allow_watch_bookmarks=True,
        timeout_seconds=5,
    )
    await objects.patch_namespaced_custom_object(
        "example.com",
        "v1",
        "default",
        "widgets",
        "a",
        {"spec": {"size": 4}},
        _content_type="application/merge-patch+json",
    )
    await objects.delete_namespaced_custom_object("example.com", "v1", "default", "widgets", "a")
    seen = []
    async with asyncio.timeout(10):
        async for event in stream:
            seen.append((event["type"], event["object"]["spec"]["size"]))
            if len(seen) == 2:
                break
    assert seen == [("MODIFIED", 4), ("DELETED", 4)]


async def test_kubernetes_asyncio_core_watch(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    await core.create_namespaced_config_map(
        "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="a"))
    )
    stream = watch.Watch().stream(core.list_namespaced_config_map, "default", timeout_seconds=5)
    async with asyncio.timeout(10):
        async for event in stream:
            assert event["type"] == "ADDED"
            assert event["object"].metadata.name == "a"
            break


async def test_finalizer_deletion_is_modified_then_deleted(http: Http) -> None:
    await http.post(CONFIGMAPS, {"metadata": {"name": "a", "finalizers": ["x.io/f"]}})
    stream = await events(http, CONFIGMAPS)
    await http.delete(f"{CONFIGMAPS}/a")
    await http.patch(f"{CONFIGMAPS}/a", {"metadata": {"finalizers": None}})
    got = await collect(stream, 3)
    assert summary(got) == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]
    assert got[1]["object"]["metadata"]["deletionTimestamp"]
    assert got[1]["object"]["metadata"]["generation"] == 2
    assert "finalizers" not in got[2]["object"]["metadata"]
    await stream.aclose()


async def test_metadata_only_watch(http: Http) -> None:
    accept = "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io"
    stream = await events(http, CONFIGMAPS, headers={"Accept": accept})
    await http.post(CONFIGMAPS, {"metadata": {"name": "a"}, "data": {"k": "v"}})
    got = await collect(stream, 1)
    assert got[0]["object"]["kind"] == "PartialObjectMetadata"
    assert got[0]["object"]["metadata"]["name"] == "a"
    assert "data" not in got[0]["object"]
    await stream.aclose()
