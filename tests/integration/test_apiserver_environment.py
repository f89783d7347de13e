"""Environment lifecycle, the command line, CRD updates and name conflicts, list expiry."""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from test_apiserver_support import WIDGETS, Http, open_http, widget, widget_crd

from framework.clock import FakeClock
from framework.envtest import Environment
from framework.envtest.apiserver.errors import ApiError
from framework.envtest.apiserver.rest import Filter

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


async def test_start_stop_and_given_kubeconfig_path(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "kubeconfig"
    env = Environment(kubeconfig_path=path)
    await env.start()
    try:
        config = yaml.safe_load(path.read_text())
        assert config["clusters"][0]["cluster"]["server"] == env.server_url
        assert config["users"][0]["user"]["token"] == env.token
        assert env.kubeconfig == str(path)
    finally:
        await env.stop()
    assert path.exists()


async def test_temporary_kubeconfig_is_removed_on_stop() -> None:
    async with Environment() as env:
        path = Path(env.kubeconfig)
        assert path.exists()  # noqa: ASYNC240
    assert not path.exists()  # noqa: ASYNC240
    with pytest.raises(RuntimeError):
        _ = env.kubeconfig


async def test_command_line_serves_until_sigterm(tmp_path: Path) -> None:
    crd_dir = tmp_path / "crds"
    crd_dir.mkdir()
    (crd_dir / "widget.yaml").write_text(yaml.safe_dump(widget_crd()))
    kubeconfig = tmp_path / "kubeconfig"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "framework.envtest",
        "--kubeconfig-out",
        str(kubeconfig),
        "--crd-dir",
        str(crd_dir),
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        assert "ready" in line
        config = yaml.safe_load(kubeconfig.read_text())
        assert config["clusters"][0]["cluster"]["server"].startswith("https://127.0.0.1:")
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 30)
    assert code == 0


async def test_crd_update_changes_what_is_served(crd_env: Environment, http: Http) -> None:
    current = (await http.get(f"{CRDS}/widgets.example.com")).body
    current["spec"]["versions"][0]["additionalPrinterColumns"] = [
        {"name": "Colour", "type": "string", "jsonPath": ".spec.color"}
    ]
    assert (await http.put(f"{CRDS}/widgets.example.com", current)).status == 200
    await http.post(WIDGETS, widget("w"))
    table = (await http.get(WIDGETS, headers={"Accept": TABLE})).body
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Colour"]
    updated = (await http.get(f"{CRDS}/widgets.example.com")).body
    established = [c for c in updated["status"]["conditions"] if c["type"] == "Established"]
    assert established[0]["status"] == "True"


async def test_conflicting_crd_names_are_not_accepted(crd_env: Environment, http: Http) -> None:
    clash = widget_crd()
    clash["metadata"]["name"] = "gadgets.example.com"
    clash["spec"]["names"]["plural"] = "gadgets"
    clash["spec"]["names"]["singular"] = "gadget"
    assert (await http.post(CRDS, clash)).status == 201
    crd = (await http.get(f"{CRDS}/gadgets.example.com")).body
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "False", "Established": "False"}
    assert (await http.get("/apis/example.com/v1/namespaces/default/gadgets")).status == 404
    with pytest.raises(RuntimeError, match="not Established"):
        await crd_env.install_crds([clash])


async def test_continue_token_older_than_the_window_is_410() -> None:
    async with Environment(event_window=2) as env:
        rest = env.server.rest
        configmaps = rest.catalog.lookup("", "v1", "configmaps")
        assert configmaps is not None
        for i in range(3):
            rest.create(configmaps, "default", {"metadata": {"name": f"c{i}"}})
        page = rest.list_page(configmaps, "default", Filter(), limit=1)
        for i in range(3):
            rest.create(configmaps, "default", {"metadata": {"name": f"d{i}"}})
        with pytest.raises(ApiError) as expired:
            rest.list_page(
                configmaps, "default", Filter(), limit=1, continue_token=page.continue_token
            )
        assert expired.value.code == 410
        assert expired.value.reason == "Expired"


async def test_legacy_watch_path(crd_env: Environment, http: Http) -> None:
    await http.post(WIDGETS, widget("w"))
    headers = {"Authorization": f"Bearer {crd_env.token}"}
    url = crd_env.server_url + "/apis/example.com/v1/watch/namespaces/default/widgets"
    async with http.session.get(url, headers=headers, params={"timeoutSeconds": "1"}) as response:
        lines = [line async for line in response.content if line.strip()]
    assert len(lines) == 1
    assert b'"ADDED"' in lines[0]


async def test_timestamps_come_from_the_given_clock() -> None:
    clock = FakeClock(wall_start=datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC))
    async with Environment(clock=clock) as env, open_http(env) as http:
        created = await http.post(
            "/api/v1/namespaces/default/configmaps",
            {"metadata": {"name": "a", "finalizers": ["x.io/f"]}},
        )
        assert created.body["metadata"]["creationTimestamp"] == "2030-05-06T07:08:09Z"
        clock.advance(60)
        deleting = await http.delete("/api/v1/namespaces/default/configmaps/a")
        assert deleting.body["metadata"]["deletionTimestamp"] == "2030-05-06T07:09:09Z"
