"""The simulator's pure parts: stage timing and timers, failure injection, entry points, the
image-name convention, node fitting, built-in conditions and workload arithmetic."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import Any, cast

import pytest
from prometheus_client import CollectorRegistry

from framework.cache import Cache
from framework.client import Client
from framework.clock import FakeClock
from framework.envtest.simulator import engine
from framework.envtest.simulator.engine import (
    FailureInjection,
    ObjectKey,
    Stage,
    StageTiming,
    World,
    actors_from_entry_points,
)
from framework.envtest.simulator.kubelet import ImageBehaviour, Kubelet, image_behaviour
from framework.envtest.simulator.objects import POD, controller_key, set_condition
from framework.envtest.simulator.scheduling import NODE_INDEXERS, choose_node, misfit, schedule
from framework.envtest.simulator.workloads import max_unavailable, pod_template_hash
from framework.informer import Store, encode
from framework.resources import GroupVersionKind

JSON = dict[str, Any]
STAGE = Stage("test.stage", 2.0)
KEY = ObjectKey(POD, "web-1", "default")


def world(
    clock: FakeClock,
    timing: StageTiming | None = None,
    failures: FailureInjection | None = None,
    registry: CollectorRegistry | None = None,
) -> World:
    """A World for its timers and failure decisions (it is never asked to read or write)."""
    return World(
        "tester",
        cast(Client, object()),
        cast(Cache, object()),
        timing=timing or StageTiming(),
        clock=clock,
        failures=failures or FailureInjection(),
        registry=registry or CollectorRegistry(),
    )


# -- timing ----------------------------------------------------------------------------------


def test_stage_timing_scales_defaults_and_overrides_by_name() -> None:
    assert StageTiming().delay(STAGE) == 2.0
    assert StageTiming(scale=0.25).delay(STAGE) == 0.5
    assert StageTiming(scale=0.25, delays={"test.stage": 7.0}).delay(STAGE) == 7.0
    assert StageTiming.zero().delay(STAGE) == 0.0
    with pytest.raises(ValueError, match="negative"):
        StageTiming(scale=-1)
    with pytest.raises(ValueError, match="negative"):
        StageTiming(delays={"test.stage": -0.1})


def test_a_stage_timer_starts_when_first_asked_and_reached_resets_it() -> None:
    clock = FakeClock()
    registry = CollectorRegistry()
    actor = world(clock, registry=registry)
    clock.advance(10)
    assert actor.remaining(KEY, STAGE) == 2.0
    clock.advance(1.5)
    assert actor.remaining(KEY, STAGE) == 0.5
    assert actor.remaining(KEY, STAGE, factor=2.0) == 2.5
    clock.advance(0.5)
    assert actor.remaining(KEY, STAGE) == 0.0

    actor.reached(KEY, STAGE)
    labels = {"actor": "tester", "kind": "Pod", "stage": "test.stage"}
    assert registry.get_sample_value("kubeloop_simulator_stages_total", labels) == 1.0
    assert actor.remaining(KEY, STAGE) == 2.0  # a new occurrence of the stage


def test_forget_drops_the_timers_of_a_deleted_object() -> None:
    clock = FakeClock()
    actor = world(clock)
    other = ObjectKey(POD, "web-2", "default")
    actor.remaining(KEY, STAGE)
    actor.remaining(other, STAGE)
    clock.advance(1.0)
    actor.forget(KEY)
    assert actor.remaining(KEY, STAGE) == 2.0
    assert actor.remaining(other, STAGE) == 1.0


def test_zero_delay_mode_keeps_no_timers() -> None:
    clock = FakeClock()
    actor = world(clock, timing=StageTiming.zero())
    assert actor.remaining(KEY, STAGE) == 0.0
    assert actor.remaining(KEY, STAGE, factor=16) == 0.0
    assert actor._timers == {}


# -- failure injection -----------------------------------------------------------------------


def test_failure_injection_is_off_by_default() -> None:
    actor = world(FakeClock())
    assert not any(actor.fails(ObjectKey(POD, f"p{n}", "default"), STAGE) for n in range(200))


def test_failure_injection_is_decided_once_per_object_and_stage_and_reproducible() -> None:
    failures = FailureInjection({"tester": 0.5}, seed=42)
    registry = CollectorRegistry()
    first, second = (
        world(FakeClock(), failures=failures, registry=registry),
        world(FakeClock(), failures=failures),
    )
    keys = [ObjectKey(POD, f"p{n}", "default") for n in range(200)]
    decisions = [first.fails(key, STAGE) for key in keys]
    assert decisions == [second.fails(key, STAGE) for key in keys]
    assert decisions == [first.fails(key, STAGE) for key in keys]  # memoised, not redrawn
    assert 50 < sum(decisions) < 150
    injected = registry.get_sample_value(
        "kubeloop_simulator_injected_failures_total", {"actor": "tester", "stage": "test.stage"}
    )
    assert injected == sum(decisions)
    other_seed = world(FakeClock(), failures=FailureInjection({"tester": 0.5}, seed=43))
    assert decisions != [other_seed.fails(key, STAGE) for key in keys]


def test_failure_probabilities_must_be_probabilities() -> None:
    with pytest.raises(ValueError, match=r"within 0\.\.1"):
        FailureInjection({"tester": 1.5})


# -- keys and entry points -------------------------------------------------------------------


def test_object_keys_from_objects_and_store_keys() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "namespace": "ns"}}
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}}
    assert ObjectKey.of(pod) == ObjectKey(POD, "a", "ns")
    assert ObjectKey.of(pod).store_key == "ns/a"
    assert ObjectKey.of(node).store_key == "n"
    assert ObjectKey.from_store_key(POD, "ns/a") == ObjectKey(POD, "a", "ns")
    assert str(ObjectKey(POD, "a", "ns")) == "Pod ns/a"


def test_actors_from_entry_points_instantiates_each_factory_in_name_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    group = "kubeloop.simulators"
    found = [
        EntryPoint("zeta", "framework.envtest.simulator.kubelet:Kubelet", group),
        EntryPoint("alpha", "framework.envtest.simulator.kubelet:Kubelet", group),
    ]

    def entry_points(*, group: str) -> list[EntryPoint]:
        return [entry for entry in found if entry.group == group]

    monkeypatch.setattr(engine, "entry_points", entry_points)
    actors = actors_from_entry_points(group)
    assert [type(actor) for actor in actors] == [Kubelet, Kubelet]
    assert actors[0] is not actors[1]
    assert actors_from_entry_points("kubeloop.other") == []


# -- the image-name convention ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "behaviour"),
    [
        ("example.com/crashloop:1", ImageBehaviour.CRASHLOOP),
        ("example.com/team/CrashLoop-App:v2", ImageBehaviour.CRASHLOOP),
        ("registry.example.com/errimagepull:v1", ImageBehaviour.ERR_IMAGE_PULL),
        ("example.com/fail:1", ImageBehaviour.FAIL),
        ("example.com/will-fail@sha256:abc", ImageBehaviour.FAIL),
        ("failover.example.com/app:failing", ImageBehaviour.RUN),  # host and tag do not count
        ("nginx", ImageBehaviour.RUN),
        ("localhost:5000/web", ImageBehaviour.RUN),
    ],
)
def test_image_name_convention(image: str, behaviour: ImageBehaviour) -> None:
    assert image_behaviour(image) is behaviour


# -- scheduling ------------------------------------------------------------------------------


def ready_node(name: str, labels: dict[str, str] | None = None, **spec: Any) -> JSON:
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": spec,
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def pod_with(**spec: Any) -> JSON:
    return {"metadata": {"name": "p"}, "spec": {"containers": [], **spec}}


def affinity(*terms: JSON) -> JSON:
    required = {"nodeSelectorTerms": list(terms)}
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": required}}


def test_node_fit_checks_readiness_schedulability_and_the_node_selector() -> None:
    node = ready_node("n", {"pool": "gpu"})
    assert misfit(pod_with(), node) is None
    assert misfit(pod_with(), {"metadata": {"name": "n"}}) == "node(s) were not ready"
    assert misfit(pod_with(), ready_node("n", unschedulable=True)) == "node(s) were unschedulable"
    assert misfit(pod_with(nodeSelector={"pool": "gpu"}), node) is None
    assert "didn't match" in str(misfit(pod_with(nodeSelector={"pool": "cpu"}), node))


def test_node_fit_honours_required_node_affinity() -> None:
    node = ready_node("n1", {"instance-type": "Standard_NC6"})
    in_gpu = {"key": "instance-type", "operator": "In", "values": ["Standard_NC6"]}
    not_there = {"key": "zone", "operator": "Exists"}
    by_name = {"key": "metadata.name", "operator": "In", "values": ["n1"]}
    assert misfit(pod_with(affinity=affinity({"matchExpressions": [in_gpu]})), node) is None
    assert misfit(pod_with(affinity=affinity({"matchFields": [by_name]})), node) is None
    either = affinity({"matchExpressions": [not_there]}, {"matchExpressions": [in_gpu]})
    assert misfit(pod_with(affinity=either), node) is None
    both = affinity({"matchExpressions": [in_gpu, not_there]})
    assert misfit(pod_with(affinity=both), node) is not None
    assert misfit(pod_with(affinity=affinity({})), node) is not None


def test_node_fit_requires_tolerating_noschedule_and_noexecute_taints() -> None:
    taint = {"key": "sku", "value": "gpu", "effect": "NoSchedule"}
    node = ready_node("n", taints=[taint, {"key": "soft", "effect": "PreferNoSchedule"}])
    assert misfit(pod_with(), node) == "node(s) had untolerated taint {sku: gpu}"
    equal = {"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}
    assert misfit(pod_with(tolerations=[equal]), node) is None
    assert misfit(pod_with(tolerations=[{"key": "sku", "operator": "Exists"}]), node) is None
    assert misfit(pod_with(tolerations=[{"operator": "Exists"}]), node) is None
    wrong_value = {**equal, "value": "cpu"}
    assert misfit(pod_with(tolerations=[wrong_value]), node) is not None
    wrong_effect = {**equal, "effect": "NoExecute"}
    assert misfit(pod_with(tolerations=[wrong_effect]), node) is not None


def test_choose_node_prefers_the_least_loaded_fitting_node_or_explains_why_none_fits() -> None:
    nodes = [ready_node("a"), ready_node("b"), ready_node("c", {"pool": "x"})]
    load = {"a": 3, "b": 1, "c": 0}.__getitem__
    assert choose_node(pod_with(), nodes, load) == ("c", "")
    assert choose_node(pod_with(nodeSelector={"pool": "x"}), nodes, load) == ("c", "")
    chosen, message = choose_node(pod_with(nodeSelector={"pool": "y"}), nodes, load)
    assert chosen is None
    assert message == (
        "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
    )


def test_schedule_through_the_node_indexes_decides_as_choose_node_over_every_node() -> None:
    taint = {"key": "sku", "value": "gpu", "effect": "NoSchedule"}
    nodes = [
        ready_node("a", {"pool": "x", "zone": "1"}),
        ready_node("b", {"pool": "x", "zone": "2"}, taints=[taint]),
        ready_node("c", {"pool": "x"}, unschedulable=True),
        {"metadata": {"name": "d", "labels": {"pool": "x"}}},
        ready_node("e", {"pool": "y"}),
    ]
    store = Store(NODE_INDEXERS)
    for node in nodes:
        store.upsert(node["metadata"]["name"], node, encode(node))
    load = {"a": 2, "b": 0, "c": 0, "d": 0, "e": 1}.__getitem__
    pods = [
        pod_with(),
        pod_with(nodeSelector={"pool": "x"}),
        pod_with(nodeSelector={"pool": "x", "zone": "2"}),
        pod_with(nodeSelector={"pool": "x", "zone": "2"}, tolerations=[{"operator": "Exists"}]),
        pod_with(nodeSelector={"pool": "z"}),
        pod_with(
            affinity=affinity(
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["e"]}]}
            )
        ),
    ]
    for pod in pods:
        assert schedule(pod, store, load) == choose_node(pod, nodes, load)
    assert schedule(pods[2], store, load) == (
        None,
        "0/5 nodes are available: 2 node(s) didn't match Pod's node affinity/selector, "
        "1 node(s) had untolerated taint {sku: gpu}, 1 node(s) were not ready, "
        "1 node(s) were unschedulable.",
    )


# -- objects and workloads -------------------------------------------------------------------


def test_set_condition_moves_the_transition_time_only_when_the_status_changes() -> None:
    status: JSON = {}
    set_condition(status, "Available", False, "t1", "Down", "no", update_time=True)
    set_condition(status, "Available", False, "t2", "Down", "no", update_time=True)
    assert status["conditions"] == [
        {
            "type": "Available",
            "status": "False",
            "reason": "Down",
            "message": "no",
            "lastTransitionTime": "t1",
            "lastUpdateTime": "t1",
        }
    ]
    set_condition(status, "Available", False, "t3", "StillDown", "no", update_time=True)
    assert status["conditions"][0]["lastTransitionTime"] == "t1"
    assert status["conditions"][0]["lastUpdateTime"] == "t3"
    set_condition(status, "Available", True, "t4")
    assert status["conditions"] == [
        {"type": "Available", "status": "True", "lastTransitionTime": "t4"}
    ]


def test_controller_key_finds_the_controller_of_the_given_kinds() -> None:
    rs = GroupVersionKind("apps", "v1", "ReplicaSet")
    pod = {
        "metadata": {
            "namespace": "ns",
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "plain", "uid": "1"},
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "rs",
                    "uid": "2",
                    "controller": True,
                },
            ],
        }
    }
    assert controller_key(pod, (rs,)) == ObjectKey(rs, "rs", "ns")
    assert controller_key(pod, (POD,)) is None


def test_pod_template_hash_is_stable_and_follows_the_template() -> None:
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "a"}]}}
    reordered = {"spec": {"containers": [{"name": "a"}]}, "metadata": {"labels": {"app": "web"}}}
    assert pod_template_hash(template) == pod_template_hash(reordered)
    assert len(pod_template_hash(template)) == 10
    changed = {**template, "spec": {"containers": [{"name": "b"}]}}
    assert pod_template_hash(changed) != pod_template_hash(template)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"replicas": 4}, 1),  # 25% by default
        ({"replicas": 3}, 0),
        ({"replicas": 4, "strategy": {"type": "Recreate"}}, 0),
        ({"replicas": 10, "strategy": {"rollingUpdate": {"maxUnavailable": "50%"}}}, 5),
        ({"replicas": 2, "strategy": {"rollingUpdate": {"maxUnavailable": 5}}}, 2),
        ({"replicas": 0}, 0),
    ],
)
def test_max_unavailable(spec: JSON, expected: int) -> None:
    assert max_unavailable({"spec": spec}) == expected
