"""SQLite durability: state survives restarts and new servers on the same data_dir,
resourceVersions keep increasing, watches from before a restart get the 410 ERROR event and a
client that relists recovers; without data_dir the state is memory only."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import yaml
from kubernetes_asyncio import client, config
from test_apiserver_support import WIDGETS, Http, open_http, widget, widget_crd

from framework.envtest import Environment
from framework.envtest.apiserver.storage_sqlite import DataDirLocked

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


async def watch_lines(http: Http, path: str, resource_version: str, count: int) -> list[Any]:
    """The first `count` events of a watch from `resource_version` (bounded wait)."""
    headers = {"Authorization": f"Bearer {http.env.token}"}
    params = {"watch": "true", "resourceVersion": resource_version}
    async with (
        asyncio.timeout(10),
        http.session.get(http.env.server_url + path, params=params, headers=headers) as response,
    ):
        assert response.status == 200
        events = []
        async for line in response.content:
            events.append(orjson.loads(line))
            if len(events) == count:
                break
        return events


async def list_rv(http: Http, path: str) -> tuple[str, dict[str, str]]:
    """A list's resourceVersion and {name: resourceVersion} of its items."""
    reply = await http.get(path)
    assert reply.status == 200, reply.body
    items = {i["metadata"]["name"]: i["metadata"]["resourceVersion"] for i in reply.body["items"]}
    return reply.body["metadata"]["resourceVersion"], items


async def test_restart_keeps_objects_and_old_watches_get_410(tmp_path: Path) -> None:
    async with Environment(data_dir=tmp_path) as env, open_http(env) as http:
        await env.install_crds([widget_crd()])
        for name in ("a", "b", "c"):
            assert (await http.post(WIDGETS, widget(name))).status == 201
        assert (await http.delete(f"{WIDGETS}/c")).status == 200
        old_rv, before = await list_rv(http, WIDGETS)
        reply = await http.patch(f"{WIDGETS}/a", {"spec": {"size": 2}})
        last_rv, _ = await list_rv(http, WIDGETS)
        port, token = env.server.port, env.token

        await env.restart()

        assert (env.server.port, env.token) == (port, token)
        assert env.store.resource_version == int(last_rv)
        rv, after = await list_rv(http, WIDGETS)
        assert rv == last_rv
        assert after == {"a": reply.body["metadata"]["resourceVersion"], "b": before["b"]}
        # The event window was not kept: a resume from before the last write is expired.
        [event] = await watch_lines(http, WIDGETS, old_rv, 1)
        assert event["type"] == "ERROR"
        assert (event["object"]["code"], event["object"]["reason"]) == (410, "Expired")
        # Relisting recovers: list, then watch from the list's resourceVersion.
        created = await http.post(WIDGETS, widget("d"))
        assert int(created.body["metadata"]["resourceVersion"]) > int(last_rv)
        [event] = await watch_lines(http, WIDGETS, rv, 1)
        assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "d")


async def test_a_new_server_on_the_data_dir_serves_the_crds_and_objects(tmp_path: Path) -> None:
    async with Environment(data_dir=tmp_path) as env, open_http(env) as http:
        await env.install_crds([widget_crd()])
        assert (await http.post(WIDGETS, widget("kept", size=3))).status == 201
        namespace = {"metadata": {"name": "team"}}
        assert (await http.post("/api/v1/namespaces", namespace)).status == 201
        assert (await http.post(WIDGETS, widget("gone"))).status == 201
        assert (await http.delete(f"{WIDGETS}/gone")).status == 200
        last = env.store.resource_version
        token, ca = env.token, env.server.cert and env.server.cert.cert_pem

    async with Environment(data_dir=tmp_path) as env:
        assert env.store.resource_version == last
        assert (env.token, env.server.cert and env.server.cert.cert_pem) == (token, ca)
        configuration = client.Configuration()
        await config.load_kube_config(
            config_file=env.kubeconfig, client_configuration=configuration
        )
        async with client.ApiClient(configuration) as api:
            custom = client.CustomObjectsApi(api)
            listed = await custom.list_namespaced_custom_object(
                "example.com", "v1", "default", "widgets"
            )
            assert [i["metadata"]["name"] for i in listed["items"]] == ["kept"]
            assert listed["items"][0]["spec"] == {"size": 3, "color": "red"}
            names = [n.metadata.name for n in (await client.CoreV1Api(api).list_namespace()).items]
            assert "team" in names
            created = await custom.create_namespaced_custom_object(
                "example.com", "v1", "default", "widgets", widget("new")
            )
            assert int(created["metadata"]["resourceVersion"]) == last + 1


async def test_deleting_a_crd_removes_its_objects_durably(tmp_path: Path) -> None:
    async with Environment(data_dir=tmp_path) as env, open_http(env) as http:
        await env.install_crds([widget_crd()])
        assert (await http.post(WIDGETS, widget("a"))).status == 201
        assert (await http.delete(f"{CRDS}/widgets.example.com")).status == 200
    async with Environment(data_dir=tmp_path) as env, open_http(env) as http:
        assert (await http.get(WIDGETS)).status == 404
        await env.install_crds([widget_crd()])
        assert (await list_rv(http, WIDGETS))[1] == {}


async def test_writes_while_stopped_are_kept_and_stop_start_reloads(tmp_path: Path) -> None:
    env = Environment(data_dir=tmp_path)
    await env.start()
    try:
        await env.install_crds([widget_crd()])
        await env.stop()
        served = env.server.rest.catalog.lookup("example.com", "v1", "widgets")
        assert served is not None
        env.server.rest.create(served, "default", widget("offline"))
        await env.start()
        async with open_http(env) as http:
            assert set((await list_rv(http, WIDGETS))[1]) == {"offline"}
    finally:
        await env.stop()
    async with Environment(data_dir=tmp_path) as env:
        assert env.store.get("widgets.example.com", "default", "offline") is not None


async def test_a_second_server_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    async with Environment(data_dir=tmp_path):
        with pytest.raises(DataDirLocked):
            Environment(data_dir=tmp_path)


async def test_without_data_dir_state_is_memory_only(tmp_path: Path) -> None:
    async with Environment() as env, open_http(env) as http:
        assert (await http.post("/api/v1/namespaces", {"metadata": {"name": "x"}})).status == 201
        old_rv = str(env.store.resource_version)
        assert (await http.post("/api/v1/namespaces", {"metadata": {"name": "y"}})).status == 201
        await env.restart()  # state kept in memory, event window not
        assert (await http.get("/api/v1/namespaces/x")).status == 200
        [event] = await watch_lines(http, "/api/v1/namespaces", old_rv, 1)
        assert event["object"]["code"] == 410
    assert list(tmp_path.iterdir()) == []  # noqa: ASYNC240
    async with Environment() as env:
        assert env.store.get("namespaces", "", "x") is None


async def test_command_line_data_dir_keeps_state_across_processes(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    data = tmp_path / "data"

    def command(kubeconfig_out: Path) -> list[str]:
        return [
            sys.executable,
            "-m",
            "framework.envtest",
            "--kubeconfig-out",
            str(kubeconfig_out),
            "--data-dir",
            str(data),
        ]

    async def serve() -> tuple[asyncio.subprocess.Process, dict[str, Any]]:
        process = await asyncio.create_subprocess_exec(
            *command(kubeconfig), stdout=asyncio.subprocess.PIPE
        )
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 15)
        assert b"ready" in line
        return process, yaml.safe_load(kubeconfig.read_text())

    async def request(kube: dict[str, Any], method: str, path: str, body: Any = None) -> Any:
        server = kube["clusters"][0]["cluster"]["server"]
        token = kube["users"][0]["user"]["token"]
        headers = {"Authorization": f"Bearer {token}"}
        connector = aiohttp.TCPConnector(ssl=False)
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.request(method, server + path, json=body, headers=headers) as response,
        ):
            return response.status, await response.json()

    async def stop(process: asyncio.subprocess.Process) -> None:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 15) == 0

    process, kube = await serve()
    try:
        status, body = await request(
            kube, "POST", "/api/v1/namespaces", {"metadata": {"name": "p"}}
        )
        assert status == 201
        rv = int(body["metadata"]["resourceVersion"])
        second = await asyncio.create_subprocess_exec(
            *command(tmp_path / "second.kubeconfig"), stderr=asyncio.subprocess.PIPE
        )
        _, err = await asyncio.wait_for(second.communicate(), 15)
        assert second.returncode == 1
        assert b"in use by another server" in err
    finally:
        await stop(process)
    token = kube["users"][0]["user"]["token"]
    process, kube = await serve()
    assert kube["users"][0]["user"]["token"] == token
    try:
        status, body = await request(kube, "GET", "/api/v1/namespaces/p")
        assert (status, body["metadata"]["resourceVersion"]) == (200, str(rv))
        status, body = await request(
            kube, "POST", "/api/v1/namespaces", {"metadata": {"name": "q"}}
        )
        assert int(body["metadata"]["resourceVersion"]) > rv
    finally:
        await stop(process)
