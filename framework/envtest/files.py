"""What a local control plane reads and writes on disk: CRD documents (YAML files or
directories of them) and the kubeconfig that points at it."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = ["crd_documents", "kubeconfig_yaml", "load_crd_documents", "write_kubeconfig"]


def load_crd_documents(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Every CustomResourceDefinition in the given YAML files or directories (sorted)."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
        else:
            files.append(path)
    crds = []
    for file in files:
        for doc in yaml.safe_load_all(file.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                crds.append(doc)
    return crds


def kubeconfig_yaml(
    server_url: str, token: str, ca_pem: bytes | None = None, namespace: str = "default"
) -> str:
    """A kubeconfig with one cluster, user (bearer token) and context, all named envtest."""
    cluster: dict[str, str] = {"server": server_url}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "envtest", "cluster": cluster}],
        "users": [{"name": "envtest", "user": {"token": token}}],
        "contexts": [
            {
                "name": "envtest",
                "context": {"cluster": "envtest", "user": "envtest", "namespace": namespace},
            }
        ],
        "current-context": "envtest",
        "preferences": {},
    }
    return yaml.safe_dump(config, sort_keys=False)


def crd_documents(crds: Iterable[str | Path | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The CRDs given as dicts, then every CRD in the given files or directories."""
    items = list(crds)
    docs = [dict(c) for c in items if isinstance(c, Mapping)]
    return docs + load_crd_documents(c for c in items if not isinstance(c, Mapping))


def write_kubeconfig(path: Path, server_url: str, token: str, ca_pem: bytes | None) -> None:
    """Write `kubeconfig_yaml(...)` to `path` (parents created), readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(kubeconfig_yaml(server_url, token, ca_pem))
    path.chmod(0o600)
