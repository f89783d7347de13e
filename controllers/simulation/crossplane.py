"""Simulated Crossplane provider-terraform: Terraform Workspaces (tf.upbound.io/v1beta1,
cluster-scoped) are "applied".

A Workspace goes through these steps, one per reconcile:
1. After stage `crossplane.sync`: Synced=True (reason ReconcileSuccess) and Ready=False
   (reason Creating).
2. After `crossplane.apply`: `status.atProvider` gets `checksum` and `outputs` (below),
   Ready=True (reason Available), and when `spec.writeConnectionSecretToRef` is set the
   connection Secret is written with every output as a key (strings as they are, other
   values as JSON), controlled by the Workspace (so it goes when the Workspace goes).

Outputs, by the module's variables (`spec.forProvider.vars`): always `id`; with `cidr_block`
also `vpc_id`, `subnet_ids` (one per zone in the JSON list `availability_zones`) and
`availability_zones`; with `kubernetes_version` also `cluster_name`, `endpoint` (an https
URL on port 443), `certificate_authority_data` and `kubeconfig`. Values are derived from the
workspace's name, so they are stable.

Failure convention: a Workspace whose name or spec contains `fail` (case-insensitive), e.g.
a module or template named `fail-vpc`, applies and fails: at step 2 it gets Synced=True and
Ready=False with reason ApplyFailed (no outputs, no secret) and stays so. A failure injected
by the simulator fails the apply the same way. A deleted Workspace needs nothing: its
connection Secret is garbage collected.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from api.external.crossplane import GROUP, SYNCED, VERSION
from framework.conditions import Condition, ConditionStatus, set_condition_wire
from framework.envtest.simulator.engine import ObjectKey, Stage, World
from framework.envtest.simulator.objects import conditions_of, deleting, meta
from framework.errors import NotFound
from framework.informer import IndexFunc
from framework.ownership import set_controller_reference
from framework.resources import GroupVersionKind

__all__ = ["APPLY", "SYNC", "WORKSPACE", "CrossplaneActor", "apply_fails", "outputs_for"]

JSON = dict[str, Any]

WORKSPACE: Final = GroupVersionKind(GROUP, VERSION, "Workspace")
SECRET: Final = GroupVersionKind("", "v1", "Secret")
SYNC = Stage("crossplane.sync", 0.5)
APPLY = Stage("crossplane.apply", 3.0)


def apply_fails(ws: Mapping[str, Any]) -> bool:
    """The failure convention: the workspace's name or spec contains `fail`."""
    text = f"{meta(ws).get('name', '')} {json.dumps(ws.get('spec') or {})}"
    return "fail" in text.lower()


def _variables(ws: Mapping[str, Any]) -> dict[str, str]:
    entries = ((ws.get("spec") or {}).get("forProvider") or {}).get("vars") or []
    return {str(e.get("key")): str(e.get("value")) for e in entries if isinstance(e, Mapping)}


def _kubeconfig(cluster: str, endpoint: str, ca: str) -> str:
    return (
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: {cluster}\n  cluster:\n    server: {endpoint}\n"
        f"    certificate-authority-data: {ca}\n"
        f"contexts:\n- name: {cluster}\n  context:\n    cluster: {cluster}\n    user: {cluster}\n"
        f"current-context: {cluster}\n"
        f"users:\n- name: {cluster}\n  user:\n    token: simulated-{cluster}\n"
    )


def outputs_for(ws: Mapping[str, Any]) -> JSON:
    """The outputs the simulated apply reports (see the module docstring)."""
    name = str(meta(ws).get("name") or "")
    digest = hashlib.sha256(name.encode()).hexdigest()
    variables = _variables(ws)
    outputs: JSON = {"id": f"ws-{digest[:8]}"}
    if "cidr_block" in variables:
        try:
            zones = [str(z) for z in json.loads(variables.get("availability_zones") or "[]")]
        except ValueError:
            zones = []
        outputs.update(
            vpc_id=f"vpc-{digest[:17]}",
            subnet_ids=[f"subnet-{digest[i : i + 17]}" for i in range(len(zones))],
            availability_zones=zones,
        )
    if "kubernetes_version" in variables:
        cluster = variables.get("cluster_name") or name
        endpoint = f"https://{cluster}-{digest[:6]}.cp.simulated.kubeloop.dev:443"
        ca = base64.b64encode(f"simulated CA of {cluster}".encode()).decode()
        outputs.update(
            cluster_name=cluster,
            endpoint=endpoint,
            certificate_authority_data=ca,
            kubeconfig=_kubeconfig(cluster, endpoint, ca),
        )
    return outputs


def _set(
    ws: JSON, type_: str, status: ConditionStatus, reason: str, message: str, now: datetime
) -> None:
    conditions: list[JSON] = ws.setdefault("status", {}).setdefault("conditions", [])
    set_condition_wire(
        conditions, Condition(type=type_, status=status, reason=reason, message=message), now
    )


def _secret_data(outputs: Mapping[str, Any]) -> dict[str, str]:
    def text(value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value)

    return {k: base64.b64encode(text(v).encode()).decode() for k, v in outputs.items()}


class CrossplaneActor:
    """Plays provider-terraform for Workspaces (see the module docstring)."""

    name = "crossplane"
    kinds: tuple[GroupVersionKind, ...] = (WORKSPACE,)

    def indexers(self) -> Mapping[GroupVersionKind, Mapping[str, IndexFunc]]:
        return {}

    def keys_for(self, world: World, obj: JSON) -> Iterable[ObjectKey]:
        return [ObjectKey.of(obj)]

    async def reconcile(self, world: World, key: ObjectKey) -> float | None:
        ws = await world.get(key)
        if ws is None or deleting(ws):
            return None
        types = {c.get("type"): c for c in conditions_of(ws)}
        if SYNCED not in types:
            return await self._sync(world, key, ws)
        ready = types.get("Ready") or {}
        if ready.get("status") == "True" or ready.get("reason") != "Creating":
            return None
        return await self._apply(world, key, ws)

    async def _sync(self, world: World, key: ObjectKey, ws: JSON) -> float | None:
        left = world.remaining(key, SYNC)
        if left:
            return left
        now = world.clock.wall()

        def synced(w: JSON) -> None:
            _set(w, SYNCED, "True", "ReconcileSuccess", "", now)
            _set(w, "Ready", "False", "Creating", "terraform apply in progress", now)

        await world.patch_status(ws, synced)
        world.reached(key, SYNC)
        return None

    async def _apply(self, world: World, key: ObjectKey, ws: JSON) -> float | None:
        left = world.remaining(key, APPLY)
        if left:
            return left
        now = world.clock.wall()
        if apply_fails(ws) or world.fails(key, APPLY):
            cause = "simulated" if apply_fails(ws) else "injected by the simulator"
            message = f"terraform apply failed: Error creating resources ({cause})"
            await world.patch_status(
                ws, lambda w: _set(w, "Ready", "False", "ApplyFailed", message, now)
            )
            world.reached(key, APPLY, failed=True)
            return None
        outputs = outputs_for(ws)
        await self._write_secret(world, ws, outputs)
        checksum = hashlib.sha256(json.dumps(ws.get("spec") or {}, sort_keys=True).encode())

        def applied(w: JSON) -> None:
            w.setdefault("status", {})["atProvider"] = {
                "checksum": checksum.hexdigest()[:32],
                "outputs": outputs,
            }
            _set(w, "Ready", "True", "Available", "", now)

        await world.patch_status(ws, applied)
        world.reached(key, APPLY)
        return None

    @staticmethod
    async def _write_secret(world: World, ws: JSON, outputs: Mapping[str, Any]) -> None:
        ref = (ws.get("spec") or {}).get("writeConnectionSecretToRef") or {}
        if not ref.get("name") or not ref.get("namespace"):
            return
        secret_key = ObjectKey(SECRET, str(ref["name"]), str(ref["namespace"]))
        data = _secret_data(outputs)
        try:
            await world.client.patch(
                SECRET, secret_key.name, {"data": data}, namespace=secret_key.namespace
            )
        except NotFound:
            secret: JSON = {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": secret_key.name, "namespace": secret_key.namespace},
                "type": "connection.crossplane.io/v1alpha1",
                "data": data,
            }
            set_controller_reference(ws, secret)
            await world.client.create(secret)
