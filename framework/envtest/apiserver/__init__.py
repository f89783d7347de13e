"""The embedded Kubernetes API server: an aiohttp app speaking enough of the Kubernetes REST
API for kubernetes-asyncio and kubectl to work unchanged.

Modules by concern: `storage` (objects, resourceVersion, events), `watch` (event window and
watcher queues), `rest` (verb semantics), `http` (routing, negotiation, streaming), `crds`,
`catalog`, `discovery`, `openapi`, `metadata`, `errors`, `schema`, `tables`, `jsonpath`.
"""

from framework.envtest.apiserver.server import ApiServer

__all__ = ["ApiServer"]
