"""The cluster simulator: plays the parts of a cluster that are not the API (a kubelet, the
workload controllers, and foreign systems' actors registered under the entry-point group
`kubeloop.simulators`) so that a local run shows whole lifecycles.

    async with Simulator(client, [Kubelet(), *actors_from_entry_points()]) as simulator:
        ...

Imported by tests, the CLI and hack scripts; never by runtime modules.
"""

from framework.envtest.simulator.engine import (
    ENTRY_POINT_GROUP,
    Actor,
    FailureInjection,
    ObjectKey,
    Simulator,
    Stage,
    StageTiming,
    UpdateMapper,
    World,
    actors_from_entry_points,
)
from framework.envtest.simulator.kubelet import Kubelet, image_behaviour, mark_node_ready

__all__ = [
    "ENTRY_POINT_GROUP",
    "Actor",
    "FailureInjection",
    "Kubelet",
    "ObjectKey",
    "Simulator",
    "Stage",
    "StageTiming",
    "UpdateMapper",
    "World",
    "actors_from_entry_points",
    "image_behaviour",
    "mark_node_ready",
]
