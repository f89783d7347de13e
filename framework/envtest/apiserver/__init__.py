"""The embedded Kubernetes API server: an aiohttp app speaking enough of the Kubernetes REST
API for kubernetes-asyncio and kubectl to work unchanged.

Modules by concern: `storage` (objects, resourceVersion, events) and `storage_sqlite`
(durability under a data dir), `watch` (event window and watcher queues), `rest` (verb
semantics, dry run), `gc` (garbage collection), `http` (routing, negotiation, streaming),
`faults` (fault injection), `audit` (request audit), `auth`, `tls`, `crds`, `catalog`,
`discovery`, `openapi`, `conversion`, `metadata`, `errors`, `schema`, `tables`, `jsonpath`,
`strategic` (strategic merge patch).
"""

from framework.envtest.apiserver.server import ApiServer

__all__ = ["ApiServer"]
