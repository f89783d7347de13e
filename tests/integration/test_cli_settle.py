"""`manager local --exit-after-settled` as a subprocess: the samples settle and the generated
role allows every request of the controllers; a sample that cannot settle and a role missing
a permission each exit 1 naming what failed. `manager simulate` serves its actors against a
cluster until SIGTERM and refuses unknown actors."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_cli import PORT_0, ROOT, finished, interrupted, line_starting, manager

from framework.cli import Sample
from framework.client import Client
from framework.envtest import Environment
from framework.resources import GroupVersionKind

SAMPLES = ROOT / "config/samples"
ROLE = ROOT / "config/rbac/role.yaml"
SUCCESS = {"Running", "Succeeded", "Ready", "Provisioned"}
EXPECTED = "kubeloop.dev/expected-phase"
NODECLAIM = GroupVersionKind("karpenter.sh", "v1", "NodeClaim")


def _samples(directory: Path) -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted(directory.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text())
        if isinstance(doc, dict)
    ]


def _final_table(out: str) -> dict[tuple[str, str], str]:
    """(kind, name) -> phase from the rows after `final phases:` and its header row."""
    lines = out.split("final phases:\n", 1)[1].splitlines()
    rows: dict[tuple[str, str], str] = {}
    for line in lines[1:]:
        if not line.startswith("  "):
            break
        kind, name, phase = line.split()
        rows[kind, name] = phase
    return rows


def _local(tmp_path: Path, *args: str) -> tuple[str, ...]:
    kubeconfig = str(tmp_path / "kubeconfig")
    return ("local", "--exit-after-settled", "--kubeconfig-out", kubeconfig, *PORT_0, *args)


def _fast_local(tmp_path: Path, samples: Path, controller: str, *args: str) -> tuple[str, ...]:
    """A settle run of one controller on `samples`, stages five times faster."""
    more = ("--controllers", controller, "--samples-dir", str(samples), "--stage-scale", "0.2")
    return _local(tmp_path, *more, *args)


def _write_samples(directory: Path, *docs: dict[str, Any]) -> Path:
    directory.mkdir()
    for n, doc in enumerate(docs):
        (directory / f"sample{n}.yaml").write_text(yaml.safe_dump(doc))
    return directory


def _sample(name: str) -> dict[str, Any]:
    (found,) = [d for d in _samples(SAMPLES) if d["metadata"]["name"] == name]
    return found


def test_a_sample_settles_in_its_expected_phase_or_a_success_phase() -> None:
    workspace = GroupVersionKind("workspace.kubeloop.dev", "v1alpha1", "Workspace")
    plain = Sample(workspace, "a", "default", None)
    failing = Sample(workspace, "b", "default", "Failed")
    settled = [plain.settled(phase) for phase in ("Running", "Succeeded", "Pending", None)]
    assert settled == [True, True, False, False]
    assert (plain.final("Failed"), plain.settled("Failed")) == (True, False)
    assert (failing.settled("Failed"), failing.settled("Running")) == (True, False)
    assert (failing.final("Running"), failing.final("Succeeded")) == (False, True)
    assert str(failing) == "Workspace default/b"


@pytest.mark.timeout(180)
async def test_every_sample_settles_and_the_role_allows_every_request(tmp_path: Path) -> None:
    code, out, err = await finished(*_local(tmp_path, "--settle-timeout", "120"), limit=150)
    assert code == 0, err
    table = _final_table(out)
    samples = _samples(SAMPLES)
    assert len(table) == len(samples)
    for doc in samples:
        phase = table[doc["kind"], doc["metadata"]["name"]]
        expected = (doc["metadata"].get("annotations") or {}).get(EXPECTED)
        assert phase == expected if expected else phase in SUCCESS
    assert "watch: " in out
    assert "settled: " in out


async def test_a_sample_that_cannot_settle_exits_1_naming_it(tmp_path: Path) -> None:
    """... and with leader election the Lease requests pass the default role check."""
    failing = _sample("workspace-fail-provision")
    failing["metadata"]["annotations"][EXPECTED] = "Running"
    samples = _write_samples(tmp_path / "samples", failing, _sample("workspace-falcon-7b"))
    data = tmp_path / "data"
    election = ("--leader-elect", "--leader-election-namespace", "default")
    args = ("--data-dir", str(data), "--settle-timeout", "60", *election)
    code, out, err = await finished(*_fast_local(tmp_path, samples, "workspace", *args))
    assert code == 1
    assert err.startswith("manager: Workspace default/workspace-fail-provision is in phase ")
    assert "expected Running" in err
    assert "workspace-falcon-7b" not in err
    assert "the role does not allow" not in err  # with the leader election Role's rules
    assert _final_table(out)["Workspace", "workspace-fail-provision"] != "Running"
    assert any(data.iterdir())


async def test_a_role_missing_a_permission_exits_1_naming_the_request(tmp_path: Path) -> None:
    role = yaml.safe_load(ROLE.read_text())
    role["rules"] = [r for r in role["rules"] if "events.k8s.io" not in r["apiGroups"]]
    role_file = tmp_path / "role.yaml"
    role_file.write_text(yaml.safe_dump(role))
    samples = _write_samples(tmp_path / "samples", _sample("validate-quickstart"))
    args = ("--rbac-role", str(role_file))
    code, out, err = await finished(*_fast_local(tmp_path, samples, "notebookvalidationjob", *args))
    assert code == 1
    assert "the role does not allow create events.k8s.io/events in namespace default" in err
    assert "is in phase" not in err
    assert _final_table(out) == {("NotebookValidationJob", "validate-quickstart"): "Succeeded"}


def _ready(claim: dict[str, Any]) -> bool:
    conditions = (claim.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


async def _until_ready(client: Client, claim: str) -> None:
    async with asyncio.timeout(30):
        while True:
            if _ready(await client.get(NODECLAIM, claim)):
                return
            await asyncio.sleep(0.05)


async def test_simulate_serves_its_actors_until_sigterm(tmp_path: Path) -> None:
    async with (
        Environment([ROOT / "config/crd/external"]) as env,
        await Client.for_environment(env) as client,
    ):
        args = ("simulate", "--kubeconfig", env.kubeconfig, "--actors", "karpenter")
        async with manager(*args, "--no-kubelet", "--stage-scale", "0") as process:
            assert await line_starting(process, "simulator running: ") == "karpenter"
            claim = {
                "apiVersion": "karpenter.sh/v1",
                "kind": "NodeClaim",
                "metadata": {"name": "claim"},
                "spec": {"nodeClassRef": {"group": "g", "kind": "K", "name": "n"}},
            }
            await client.create(claim)
            await _until_ready(client, "claim")
            assert await interrupted(process, signal.SIGTERM) == 0


async def test_simulate_refuses_an_unknown_actor() -> None:
    code, _, err = await finished("simulate", "--actors", "karpenter,nope")
    assert (code, err.strip()) == (2, "manager: no simulator actor registered as nope")
