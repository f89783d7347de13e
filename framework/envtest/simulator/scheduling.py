"""Which Node a Pod may run on: the simulated scheduler's filters.

A node fits a pod when it is Ready and schedulable, its labels satisfy the pod's
`nodeSelector` and required node affinity (`nodeSelectorTerms`: any term, each term's
`matchExpressions` and `matchFields` on `metadata.name` all; operators In, NotIn, Exists,
DoesNotExist), and the pod tolerates every NoSchedule and NoExecute taint. Resource requests
are not checked. Among fitting nodes the one with the fewest pods wins (then by name).

`schedule` decides from a node `Store` carrying the indexes `NODE_INDEXERS`, so that only the
nodes whose labels satisfy the pod's `nodeSelector` are decoded and checked; the others are
counted, by readiness, in the message when nothing fits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from framework.envtest.simulator.objects import condition_true, meta
from framework.informer import IndexFunc, Store
from framework.selectors import LabelSelector, SelectorError

JSON = dict[str, Any]

NOT_READY = "node(s) were not ready"
UNSCHEDULABLE = "node(s) were unschedulable"
SELECTOR_MISMATCH = "node(s) didn't match Pod's node affinity/selector"

NODE_LABEL_INDEX: Final = "simulator.node.label"
"""Nodes by each of their labels as "key=value"."""
NODE_READINESS_INDEX: Final = "simulator.node.readiness"
"""Nodes by what any pod's fit hinges on before labels: NOT_READY, UNSCHEDULABLE or ""."""


def _label_pairs(node: JSON) -> list[str]:
    return [f"{key}={value}" for key, value in (meta(node).get("labels") or {}).items()]


def _readiness(node: Mapping[str, Any]) -> str:
    if not condition_true(node, "Ready"):
        return NOT_READY
    return UNSCHEDULABLE if (node.get("spec") or {}).get("unschedulable") else ""


NODE_INDEXERS: Final[Mapping[str, IndexFunc]] = {
    NODE_LABEL_INDEX: _label_pairs,
    NODE_READINESS_INDEX: lambda node: [_readiness(node)],
}


def _term_matches(term: Mapping[str, Any], labels: Mapping[str, str], name: str) -> bool:
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False  # an empty term matches no node
    try:
        return LabelSelector.from_dict({"matchExpressions": expressions}).matches(
            labels
        ) and LabelSelector.from_dict({"matchExpressions": fields}).matches({"metadata.name": name})
    except SelectorError:
        return False


def _required_terms(pod: Mapping[str, Any]) -> list[JSON] | None:
    affinity = ((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if required is None:
        return None
    terms: list[JSON] = required.get("nodeSelectorTerms") or []
    return terms


def _tolerates(tolerations: Sequence[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    for toleration in tolerations:
        if toleration.get("effect") and toleration.get("effect") != taint.get("effect"):
            continue
        key = toleration.get("key") or ""
        if toleration.get("operator") == "Exists":
            if not key or key == taint.get("key"):
                return True
        elif key == taint.get("key") and (toleration.get("value") or "") == (
            taint.get("value") or ""
        ):
            return True
    return False


def misfit(pod: Mapping[str, Any], node: Mapping[str, Any]) -> str | None:
    """Why `node` cannot run `pod` (the scheduler's message fragment), None when it can."""
    readiness = _readiness(node)
    if readiness:
        return readiness
    node_spec = node.get("spec") or {}
    labels = meta(node).get("labels") or {}
    pod_spec = pod.get("spec") or {}
    if not LabelSelector.from_labels(pod_spec.get("nodeSelector") or {}).matches(labels):
        return SELECTOR_MISMATCH
    terms = _required_terms(pod)
    name = str(meta(node).get("name") or "")
    if terms is not None and not any(_term_matches(t, labels, name) for t in terms):
        return SELECTOR_MISMATCH
    tolerations = pod_spec.get("tolerations") or []
    for taint in node_spec.get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(
            tolerations, taint
        ):
            return f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value', '')}}}"
    return None


def choose_node(
    pod: Mapping[str, Any],
    nodes: Sequence[Mapping[str, Any]],
    load: Callable[[str], int],
    excluded: Mapping[str, int] | None = None,
) -> tuple[str | None, str]:
    """The name of the node to bind `pod` to (fewest pods by `load`, then by name) and "";
    or None and the scheduler's message ("0/3 nodes are available: ..."). `excluded` counts,
    by reason, the nodes known not to fit that are left out of `nodes`."""
    fitting: list[str] = []
    reasons: Counter[str] = Counter(excluded or {})
    for node in nodes:
        reason = misfit(pod, node)
        if reason is None:
            fitting.append(str(meta(node).get("name")))
        else:
            reasons[reason] += 1
    if fitting:
        return min(fitting, key=lambda name: (load(name), name)), ""
    detail = ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()))
    return None, f"0/{sum(reasons.values())} nodes are available: {detail}."


def schedule(
    pod: Mapping[str, Any], nodes: Store, load: Callable[[str], int]
) -> tuple[str | None, str]:
    """`choose_node` over the nodes of `nodes` (a store with the indexes `NODE_INDEXERS`)
    that satisfy the pod's `nodeSelector`; the others count as not ready, unschedulable or
    not matching, which is what `misfit` would have said of them."""
    selector = (pod.get("spec") or {}).get("nodeSelector") or {}
    candidates = _candidates(nodes, [f"{key}={value}" for key, value in selector.items()])
    found = [node for node in map(nodes.get, sorted(candidates)) if node is not None]
    chosen = choose_node(pod, found, load)
    if chosen[0] is not None:
        return chosen
    # nothing fits: count the nodes left out, for the message
    excluded: Counter[str] = Counter()
    for readiness in (NOT_READY, UNSCHEDULABLE, ""):
        excluded[readiness or SELECTOR_MISMATCH] = len(
            nodes.index_keys(NODE_READINESS_INDEX, readiness)
        )
    for node in found:
        excluded[_readiness(node) or SELECTOR_MISMATCH] -= 1
    return choose_node(pod, found, load, +excluded)


def _candidates(nodes: Store, pairs: Iterable[str]) -> set[str]:
    """The keys of the nodes filed under every one of `pairs` (all nodes when none)."""
    found: set[str] | None = None
    for pair in pairs:
        keys = nodes.index_keys(NODE_LABEL_INDEX, pair)
        found = set(keys) if found is None else found.intersection(keys)
        if not found:
            break
    return set(nodes.keys()) if found is None else found
