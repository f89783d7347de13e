"""The manager's HTTP servers on the embedded API server: probes, every metric name, and each
status API response (kinds, objects, 404, 503, controllers, phase machines)."""

from __future__ import annotations

from datetime import datetime

from test_informer_support import GADGET, eventually, gadget, running
from test_manager_support import (
    GADGET_MACHINE,
    gadget_reconciler,
    get,
    get_json,
    managed,
    manager_on_server,
    wait_for_status,
)

from framework.client import Client
from framework.leaderelection import LeaderElectionConfig
from framework.manager import Manager
from framework.server import Check
from framework.tracker import ObjectKey

CONTROLLER_METRICS = (
    "controller_runtime_reconcile_total",
    "controller_runtime_reconcile_errors_total",
    "controller_runtime_terminal_reconcile_errors_total",
    "controller_runtime_reconcile_panics_total",
    "controller_runtime_reconcile_time_seconds_bucket",
    "controller_runtime_max_concurrent_reconciles",
    "controller_runtime_active_workers",
    "workqueue_depth",
    "workqueue_adds_total",
    "workqueue_queue_duration_seconds_bucket",
    "workqueue_work_duration_seconds_bucket",
    "workqueue_retries_total",
    "workqueue_unfinished_work_seconds",
    "workqueue_longest_running_processor_seconds",
    "rest_client_requests_total",
    "kubeloop_informer_lists_total",
    "kubeloop_informer_watches_total",
    "leader_election_master_status",
)


def _names(exposition: str) -> set[str]:
    return {
        line.split("{")[0].split(" ")[0]
        for line in exposition.splitlines()
        if line and not line.startswith("#")
    }


async def test_probes() -> None:
    async with manager_on_server() as (_, _, manager, _):
        url = manager.health_url
        assert await get(f"{url}/healthz") == (200, "ok")
        code, body = await get(f"{url}/healthz?verbose")
        assert (code, body) == (200, "[+]ping ok\nhealthz check passed\n")
        assert await wait_for_status(f"{url}/readyz") == "ok"
        code, body = await get(f"{url}/readyz?verbose")
        assert code == 200
        assert body.splitlines() == ["[+]controller-gadget caches synced", "readyz check passed"]


async def test_not_ready_before_start() -> None:
    async with running() as (_, client, _):
        manager = Manager(client)
        assert manager.readiness() == [Check("manager", False, "not running")]


async def test_metrics_serve_every_family_of_the_manager() -> None:
    async with running() as (env, client, _):
        lease = LeaderElectionConfig(
            name="server-test", namespace="default", renew_deadline=2, retry_period=0.2
        )
        async with (
            await Client.for_environment(env) as own_client,
            managed(own_client, leader_election=lease) as (manager, _),
        ):
            await client.create(gadget("a"))
            await eventually(lambda: "a" in gadget_reconciler(manager).finished)
            code, body = await get(f"{manager.metrics_url}/metrics")
        assert code == 200
        missing = set(CONTROLLER_METRICS) - _names(body)
        assert not missing
        assert 'leader_election_master_status{name="server-test"} 1.0' in body


async def test_status_api_lists_objects_of_a_kind_with_counts() -> None:
    async with manager_on_server() as (_, client, manager, _):
        await client.create(gadget("a"))
        await client.create(gadget("b", state="Pending"))
        await client.create(gadget("c", state="Pending"))
        reconciler = gadget_reconciler(manager)
        await eventually(lambda: len(reconciler.finished) == 3)
        code, body = await get_json(
            f"{manager.metrics_url}/api/v1/test.kubeloop.dev/gadgets/statuses"
        )
        assert code == 200
        assert body["kind"] == "Gadget"
        assert body["totalCount"] == 3
        assert body["stateCounts"] == {"Running": 1, "Pending": 2}
        first = body["items"][0]
        assert {k: first[k] for k in ("namespace", "name", "controller", "state", "message")} == {
            "namespace": "default",
            "name": "a",
            "controller": "gadget",
            "state": "Running",
            "message": "gadget is Running",
        }
        assert first["timeInState"] >= 0
        code, _ = await get_json(f"{manager.metrics_url}/api/v1/test.kubeloop.dev/widgets/statuses")
        assert code == 404
        code, _ = await get_json(f"{manager.metrics_url}/api/v1/other.group/gadgets/statuses")
        assert code == 404


async def test_status_api_object_status_and_history() -> None:
    async with manager_on_server() as (_, client, manager, _):
        await client.create(gadget("a", state="Pending"))
        reconciler = gadget_reconciler(manager)
        await eventually(lambda: reconciler.finished == ["a"])
        await client.patch(GADGET, "a", {"spec": {"state": "Running"}}, namespace="default")
        await eventually(lambda: reconciler.finished == ["a", "a"])
        url = f"{manager.metrics_url}/api/v1/test.kubeloop.dev/gadgets/default/a/status"
        code, body = await get_json(url)
        assert code == 200
        assert body["state"] == "Running"
        assert body["healthy"] is True
        assert body["error"] is None
        assert body["metadata"] == {"state": "Running"}
        assert [(h["from"], h["to"]) for h in body["recentHistory"]] == [
            (None, "Pending"),
            ("Pending", "Running"),
        ]
        assert datetime.fromisoformat(body["stateEntered"]) <= datetime.fromisoformat(
            body["lastUpdated"]
        )
        assert body["timeInState"] >= 0
        code, _ = await get_json(f"{url.removesuffix('/a/status')}/missing/status")
        assert code == 404


async def test_status_api_answers_503_while_an_object_is_in_error() -> None:
    async with manager_on_server() as (_, client, manager, _):
        url = f"{manager.metrics_url}/api/v1/test.kubeloop.dev/gadgets/default/a/status"
        await client.create(gadget("a", fail=True))
        await eventually(lambda: manager.tracker.list() != [])
        code, body = await get_json(url)
        assert code == 503
        assert body["healthy"] is False
        assert body["error"] == "RuntimeError: provider unreachable"
        await _patch_spec(client, {"fail": None, "state": "Failed"})
        await eventually(lambda: _state(manager) == "Failed")
        code, body = await get_json(url)
        assert (code, body["state"], body["error"]) == (503, "Failed", None)
        await _patch_spec(client, {"state": "Running"})
        await eventually(lambda: _state(manager) == "Running")
        code, body = await get_json(url)
        assert (code, body["healthy"]) == (200, True)


async def _patch_spec(client: Client, spec: dict[str, object]) -> None:
    await client.patch(GADGET, "a", {"spec": spec}, namespace="default")


def _state(manager: Manager) -> str | None:
    status = manager.tracker.get("gadget", ObjectKey("test.kubeloop.dev", "Gadget", "default", "a"))
    return None if status is None else status.state


async def test_status_api_controllers_and_machines() -> None:
    async with manager_on_server() as (_, client, manager, _):
        await client.create(gadget("a"))
        reconciler = gadget_reconciler(manager)
        await eventually(lambda: reconciler.finished == ["a"])
        code, body = await get_json(f"{manager.metrics_url}/api/v1/controllers/statuses")
        assert code == 200
        assert body["totalCount"] == 1
        (controller,) = body["controllers"]
        assert controller["name"] == "gadget"
        assert controller["state"] == "ready"
        assert controller["queueDepth"] == 0
        assert controller["reconciles"] == {"success": 1}
        assert controller["objects"] == 1
        code, body = await get_json(f"{manager.metrics_url}/api/v1/controllers/gadget/machine")
        assert code == 200
        assert body["initial"] == "Pending"
        assert body["mermaid"] == GADGET_MACHINE.to_mermaid()
        code, text = await get(
            f"{manager.metrics_url}/api/v1/controllers/gadget/machine?format=mermaid"
        )
        assert (code, text) == (200, GADGET_MACHINE.to_mermaid())
        code, _ = await get_json(f"{manager.metrics_url}/api/v1/controllers/other/machine")
        assert code == 404
