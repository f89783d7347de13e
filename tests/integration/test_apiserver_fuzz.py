"""Arbitrary input never crashes the server or corrupts its state: every rejection is an
ApiError with a 4xx code, and what is stored stays valid."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_apiserver_support import widget, widget_crd

from framework.envtest.apiserver.errors import ApiError
from framework.envtest.apiserver.rest import JSON_PATCH, MERGE_PATCH
from framework.envtest.apiserver.server import ApiServer

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
keys = st.sampled_from(
    [
        "apiVersion",
        "kind",
        "metadata",
        "spec",
        "status",
        "name",
        "labels",
        "size",
        "color",
        "finalizers",
        "resourceVersion",
        "x",
    ]
)
documents = st.recursive(
    json_values,
    lambda inner: st.dictionaries(keys, inner, max_size=5),
    max_leaves=25,
)
operations = st.lists(
    st.fixed_dictionaries(
        {
            "op": st.sampled_from(["add", "remove", "replace", "test", "move", "copy", "bogus"]),
            "path": st.sampled_from(
                ["/spec/size", "/metadata/labels", "/metadata/name", "/spec", "/x/-", ""]
            ),
        },
        optional={"value": json_values, "from": st.just("/spec")},
    ),
    max_size=3,
)


def _server() -> tuple[ApiServer, Any]:
    server = ApiServer(tls=False)
    crds = server.catalog.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    assert crds is not None
    server.rest.create(crds, "", widget_crd())
    served = server.catalog.lookup("example.com", "v1", "widgets")
    server.rest.create(served, "default", widget("w"))
    return server, served


def _check_state(server: ApiServer, served: Any) -> None:
    for stored in server.storage.list(served.key, None):
        assert orjson.loads(stored.raw) == stored.obj
        assert stored.obj["metadata"]["resourceVersion"] == str(stored.rv)
        assert isinstance(stored.obj["spec"]["size"], int)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(body=documents, patch=documents, ops=operations)
def test_random_writes_are_rejected_cleanly(body: Any, patch: Any, ops: Any) -> None:
    server, served = _server()
    rest = server.rest
    calls = [
        lambda: rest.create(served, "default", body, "Strict"),
        lambda: rest.update(served, "default", "w", body),
        lambda: rest.patch(served, "default", "w", MERGE_PATCH, orjson.dumps(patch)),
        lambda: rest.patch(served, "default", "w", JSON_PATCH, orjson.dumps(ops), "status"),
        lambda: rest.delete(served, "default", "w", patch if isinstance(patch, dict) else {}),
    ]
    codes = []
    for call in calls:
        try:
            call()
        except ApiError as error:
            codes.append(error.code)
    assert all(400 <= code < 500 for code in codes), codes
    _check_state(server, served)
