"""kubeloop's example API types, in the kubebuilder multi-group layout (api/<group>/<version>/).

`all_kinds()` lists the kinds our controllers own (all in category `kubeloop`);
`external_kinds()` lists minimal, permissive models of the foreign kinds they use, so those
kinds can be installed on a local control plane. Both are meant for the `kubeloop.apis`
entry-point group; modules are imported on call, so importing `api` is cheap.
"""

from __future__ import annotations

from framework.models import KubeObject

__all__ = ["all_kinds", "external_kinds"]


def all_kinds() -> list[type[KubeObject]]:
    """The kinds kubeloop's example controllers reconcile."""
    from api.controlplane.v1beta1 import CAPTControlPlane
    from api.infrastructure.v1beta1 import CAPTCluster
    from api.mlops.v1alpha1 import NotebookValidationJob
    from api.workspace.v1alpha1 import Workspace

    return [Workspace, NotebookValidationJob, CAPTCluster, CAPTControlPlane]


def external_kinds() -> list[type[KubeObject]]:
    """Foreign kinds the controllers read or create (Karpenter, Crossplane, Cluster API,
    Tekton, OpenShift builds), with their real groups, versions and scopes."""
    from api.external.clusterapi import Cluster
    from api.external.crossplane import Workspace
    from api.external.karpenter import NodeClaim
    from api.external.openshift import Build
    from api.external.tekton import PipelineRun

    return [NodeClaim, Workspace, Cluster, PipelineRun, Build]
