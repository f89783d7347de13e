"""What the CAPT controllers and the Crossplane simulator make of Terraform Workspaces,
without a server: reading Synced/Ready, merging provider data, simulated outputs (pure; sits
with the controllers' integration tests)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_capt_support import workspace_status

from controllers.capt import observe
from controllers.captcontrolplane import merge_provider_data
from controllers.simulation.crossplane import apply_fails, outputs_for

JSON = dict[str, Any]


@pytest.mark.parametrize(
    ("synced", "ready", "reason", "is_ready", "failed"),
    [
        ("True", "True", "Available", True, False),
        ("True", "False", "Creating", False, False),
        ("False", "False", "Creating", False, False),
        ("True", "False", "ApplyFailed", False, True),
        ("False", "False", "ApplyFailed", False, False),
    ],
)
def test_workspace_state(
    synced: str, ready: str, reason: str, is_ready: bool, failed: bool
) -> None:
    state = observe({"status": workspace_status(ready, reason, synced=synced)})
    assert (state.is_ready, state.failed) == (is_ready, failed)
    condition = state.condition("VPCReady")
    assert condition.status == ("True" if is_ready else "False")


def test_a_workspace_without_conditions_is_in_progress() -> None:
    state = observe({})
    assert (state.is_ready, state.failed) == (False, False)
    assert state.condition("WorkspaceReady").reason == "WorkspaceNotReady"


def test_provider_data_is_merged_key_by_key_and_never_erased() -> None:
    stored = {"checksum": "a", "outputs": {"id": "1", "extra": "kept"}, "region": "eu"}
    assert merge_provider_data(stored, None) == stored
    assert merge_provider_data(stored, {}) == stored
    merged = merge_provider_data(stored, {"checksum": "b", "outputs": {"id": "2"}})
    assert merged == {"checksum": "b", "outputs": {"id": "2", "extra": "kept"}, "region": "eu"}
    assert stored["checksum"] == "a"
    assert merge_provider_data(None, {"id": "x"}) == {"id": "x"}


def workspace(name: str, **variables: str) -> JSON:
    entries = [{"key": k, "value": v} for k, v in variables.items()]
    return {"metadata": {"name": name}, "spec": {"forProvider": {"vars": entries}}}


def test_simulated_outputs_follow_the_variables() -> None:
    vpc = outputs_for(workspace("v", cidr_block="10.0.0.0/16", availability_zones='["a", "b"]'))
    assert vpc["vpc_id"].startswith("vpc-")
    assert len(vpc["subnet_ids"]) == 2
    assert vpc["availability_zones"] == ["a", "b"]
    plane = outputs_for(workspace("p", cluster_name="demo", kubernetes_version="v1.31"))
    assert plane["endpoint"].startswith("https://demo-")
    assert "server: " + plane["endpoint"] in plane["kubeconfig"]
    assert outputs_for(workspace("p")) == {"id": plane["id"]}
    assert json.dumps(outputs_for(workspace("v"))) == json.dumps(outputs_for(workspace("v")))


def test_the_failure_convention_reads_name_and_spec() -> None:
    assert apply_fails(workspace("my-FAIL-vpc"))
    assert apply_fails(workspace("ok", module="fail-module"))
    assert not apply_fails(workspace("ok", cidr_block="10.0.0.0/16"))
