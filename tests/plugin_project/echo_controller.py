"""Echo: a minimal out-of-tree kubeloop controller. An Echo object goes from Pending to
Running, the message of the transition repeating `spec.message`.

kubeloop finds it through the entry point `echo = "echo_controller:setup"` in the group
`kubeloop.controllers` (see pyproject.toml), or with `manager run --module echo_controller`.
"""

from __future__ import annotations

from typing import Any

from framework.controller import ControllerBuilder, Result
from framework.manager import Manager
from framework.phase import PhaseMachine
from framework.reconciler import PhaseReconciler, on_phase
from framework.resources import GroupVersionKind, ResourceInfo

ECHO = ResourceInfo(
    gvk=GroupVersionKind("echo.example.com", "v1", "Echo"),
    plural="echoes",
    singular="echo",
    namespaced=True,
    subresources=frozenset({"status"}),
)


class EchoReconciler(PhaseReconciler[dict[str, Any]]):
    kind = ECHO.gvk
    machine = PhaseMachine(
        phases=("Pending", "Running"), initial="Pending", transitions={"Pending": {"Running"}}
    )

    @on_phase("Pending")
    async def pending(self, obj: dict[str, Any]) -> Result | None:
        message = (obj.get("spec") or {}).get("message", "")
        return await self.transition_phase(obj, "Running", f"echo: {message}")


def setup(manager: Manager) -> None:
    """Register the Echo controller with `manager` (the `kubeloop.controllers` contract)."""
    reconciler = EchoReconciler(manager.context("echo"))
    manager.build(ControllerBuilder().for_kind(ECHO), reconciler)
