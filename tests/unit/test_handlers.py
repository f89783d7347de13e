"""Event handlers: requests from objects, owners and map functions; predicates and their
combinations; informer events to queue adds with priorities."""

from __future__ import annotations

from typing import Any

import pytest
from test_controller_support import CONFIGMAP, WIDGET, obj

from framework.handlers import (
    LOW_PRIORITY,
    AnnotationChanged,
    EnqueueRequestForObject,
    EnqueueRequestForOwner,
    EnqueueRequestsFromMapFunc,
    Funcs,
    GenerationChanged,
    LabelChanged,
    Predicate,
    Request,
    ResourceVersionChanged,
    event_handler,
    requests_for_annotated_owner,
)
from framework.models import KubeObject, ObjectMeta
from framework.ownership import OWNER_ANNOTATION

JSON = dict[str, Any]


class RecordingQueue:
    def __init__(self) -> None:
        self.adds: list[tuple[Request, int]] = []

    def add(self, item: Request, priority: int = 0) -> None:
        self.adds.append((item, priority))


def owned(name: str, *refs: JSON, namespace: str = "default") -> JSON:
    return obj(name, namespace, kind=CONFIGMAP, ownerReferences=list(refs))


def ref(name: str, *, controller: bool | None = True, api_version: str = "example.com/v1") -> JSON:
    reference: JSON = {"apiVersion": api_version, "kind": "Widget", "name": name, "uid": "u"}
    if controller is not None:
        reference["controller"] = controller
    return reference


# --- requests -------------------------------------------------------------------------------


def test_request_of_objects_and_its_text() -> None:
    assert Request.of(obj("a", "ns")) == Request("ns", "a")
    assert Request.of({"metadata": {"name": "n"}}) == Request("", "n")
    assert Request.of(KubeObject(metadata=ObjectMeta(name="k", namespace="x"))) == Request("x", "k")
    assert str(Request("ns", "a")) == "ns/a"
    assert str(Request("", "node-1")) == "node-1"


def test_enqueue_request_for_object() -> None:
    assert list(EnqueueRequestForObject().requests(obj("a"))) == [Request("default", "a")]


def test_enqueue_for_owner_takes_only_the_controller_reference_by_default() -> None:
    child = owned("c", ref("plain", controller=None), ref("boss"), ref("other", controller=False))
    assert list(EnqueueRequestForOwner(WIDGET).requests(child)) == [Request("default", "boss")]
    every = EnqueueRequestForOwner(WIDGET, controller_only=False)
    assert sorted(every.requests(child)) == [
        Request("default", "boss"),
        Request("default", "other"),
        Request("default", "plain"),
    ]


def test_enqueue_for_owner_matches_group_and_kind_in_any_version() -> None:
    child = owned(
        "c",
        ref("v2-owner", api_version="example.com/v2"),
        {**ref("wrong-group"), "apiVersion": "other.io/v1"},
        {**ref("wrong-kind"), "kind": "Gadget"},
    )
    assert list(EnqueueRequestForOwner(WIDGET, controller_only=False).requests(child)) == [
        Request("default", "v2-owner")
    ]


def test_enqueue_for_owner_namespace_follows_the_owner_scope() -> None:
    child = owned("c", ref("boss"), namespace="team")
    assert list(EnqueueRequestForOwner(WIDGET).requests(child)) == [Request("team", "boss")]
    cluster_owner = EnqueueRequestForOwner(WIDGET, owner_namespaced=False)
    assert list(cluster_owner.requests(child)) == [Request("", "boss")]
    cluster_child = owned("c", ref("boss"), namespace="")
    assert list(EnqueueRequestForOwner(WIDGET).requests(cluster_child)) == [Request("", "boss")]
    assert list(EnqueueRequestForOwner(WIDGET).requests(owned("orphan"))) == []


def test_map_func_and_the_annotated_owner() -> None:
    child = obj("claim-1", "", annotations={OWNER_ANNOTATION: "team/w1"})
    assert requests_for_annotated_owner(child) == [Request("team", "w1")]
    assert requests_for_annotated_owner(obj("loose", "")) == []
    mapper = EnqueueRequestsFromMapFunc(lambda o: [Request("x", o["metadata"]["name"] + "-o")])
    assert list(mapper.requests(obj("a"))) == [Request("x", "a-o")]


# --- predicates -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("predicate", "changes"),
    [
        (GenerationChanged(), {"generation": 2}),
        (LabelChanged(), {"labels": {"app": "b"}}),
        (AnnotationChanged(), {"annotations": {"note": "b"}}),
        (ResourceVersionChanged(), {"resourceVersion": "2"}),
    ],
)
def test_metadata_predicates_filter_updates_only(predicate: Predicate, changes: JSON) -> None:
    old = obj("a", labels={"app": "a"}, annotations={"note": "a"})
    same = obj("a", labels={"app": "a"}, annotations={"note": "a"})
    new = {**old, "metadata": {**old["metadata"], **changes}}
    assert predicate.update(old, new)
    assert not predicate.update(old, same)
    assert predicate.create(old)
    assert predicate.delete(old)


def test_generation_changed_ignores_status_and_metadata_only_writes() -> None:
    old = obj("a", rv="1", generation=3)
    status_write = {**obj("a", rv="2", generation=3), "status": {"phase": "Ready"}}
    assert not GenerationChanged().update(old, status_write)
    assert ResourceVersionChanged().update(old, status_write)


def test_combinators() -> None:
    yes = Funcs(create=lambda o: True, update=lambda o, n: True, delete=lambda o: True)
    no = Funcs(create=lambda o: False, update=lambda o, n: False, delete=lambda o: False)
    a = obj("a")
    for predicate, expected in [
        (yes & yes, True),
        (yes & no, False),
        (no | yes, True),
        (no | no, False),
        (~no, True),
        (~yes, False),
        (~(no | (yes & yes)), False),
    ]:
        assert predicate.create(a) is expected
        assert predicate.update(a, a) is expected
        assert predicate.delete(a) is expected


def test_funcs_defaults_let_events_through() -> None:
    only_creates = Funcs(update=lambda o, n: False, delete=lambda o: False)
    a = obj("a")
    assert only_creates.create(a)
    assert not only_creates.update(a, a)
    assert not only_creates.delete(a)


# --- events to queue ------------------------------------------------------------------------


def test_initial_list_adds_go_in_at_low_priority_and_live_adds_at_normal() -> None:
    queue = RecordingQueue()
    handler = event_handler(EnqueueRequestForObject(), queue)
    assert handler.on_add is not None
    handler.on_add(obj("listed"), True)
    handler.on_add(obj("created"), False)
    assert queue.adds == [
        (Request("default", "listed"), LOW_PRIORITY),
        (Request("default", "created"), 0),
    ]
    assert LOW_PRIORITY == -100


def test_updates_enqueue_old_and_new_owners_and_resyncs_go_low() -> None:
    queue = RecordingQueue()
    handler = event_handler(EnqueueRequestForOwner(WIDGET), queue)
    assert handler.on_update is not None
    before = owned("c", ref("first"))
    after = owned("c", ref("second"))
    after["metadata"]["resourceVersion"] = "2"
    handler.on_update(before, after)
    assert queue.adds == [(Request("default", "first"), 0), (Request("default", "second"), 0)]
    queue.adds.clear()
    handler.on_update(after, after)
    assert queue.adds == [(Request("default", "second"), LOW_PRIORITY)]


def test_deletes_enqueue_the_last_state() -> None:
    queue = RecordingQueue()
    handler = event_handler(EnqueueRequestForObject(), queue)
    assert handler.on_delete is not None
    handler.on_delete(obj("gone"), True)
    assert queue.adds == [(Request("default", "gone"), 0)]


def test_predicates_gate_every_event() -> None:
    queue = RecordingQueue()
    handler = event_handler(
        EnqueueRequestForObject(),
        queue,
        [GenerationChanged(), Funcs(create=lambda o: o["metadata"]["name"] != "skip")],
    )
    assert handler.on_add is not None
    assert handler.on_update is not None
    handler.on_add(obj("skip"), False)
    handler.on_update(obj("a", rv="1"), obj("a", rv="2"))  # generation unchanged
    assert queue.adds == []
    handler.on_update(obj("a", rv="2"), obj("a", rv="3", generation=2))
    handler.on_add(obj("keep"), False)
    assert queue.adds == [(Request("default", "a"), 0), (Request("default", "keep"), 0)]
