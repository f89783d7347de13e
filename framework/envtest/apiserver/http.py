"""The aiohttp application: routing, authentication, content negotiation, watch streaming.

One catch-all handler parses kube's REST paths itself (`/api/v1/...`, `/apis/{g}/{v}/...`,
`namespaces/{ns}/...`, subresources, the legacy `/watch/` prefix) and calls `Rest`. Responses
are JSON (objects, lists, metav1 Status for errors, meta.k8s.io/v1 Table or
PartialObjectMetadata when asked in Accept). Every request must carry the bearer token
(`auth`); resource requests are recorded in `rest.audit`; `dryRun=All` writes go through
`rest.dry_run()`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import yaml
from aiohttp import web
from aiohttp.typedefs import Middleware
from multidict import CIMultiDict

from framework.envtest.apiserver import errors
from framework.envtest.apiserver.audit import AuditRecord, request_verb
from framework.envtest.apiserver.auth import Handler, token_auth
from framework.envtest.apiserver.catalog import ServedResource
from framework.envtest.apiserver.discovery import Discovery
from framework.envtest.apiserver.errors import ApiError
from framework.envtest.apiserver.openapi import OpenApi
from framework.envtest.apiserver.rest import Filter, Page, Rest, Written, parse_filter
from framework.envtest.apiserver.storage import TooOld
from framework.envtest.apiserver.tables import render_table
from framework.envtest.apiserver.watch import (
    ADDED,
    DELETED,
    MODIFIED,
    StoredObject,
    Watcher,
    WatchEvent,
)

MAX_BODY = 3 * 1024 * 1024
_JSON = "application/json"
_VALIDATION = ("Strict", "Warn", "Ignore")
_WATCH_BATCH = 256
# Loop turns a watch waits before sending what is queued: the events of the requests served
# meanwhile go out in the same write (one send, one wake-up of the watching process).
_WATCH_SETTLE = 2
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WatchOptions:
    """Server-wide watch settings: bookmark interval and per-watcher queue bound."""

    bookmark_interval: float = 60.0
    queue_size: int = 10_000


@dataclass(slots=True)
class Target:
    """A parsed resource path."""

    served: ServedResource
    namespace: str | None
    name: str
    subresource: str
    watch: bool


def _response(body: bytes, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    headers: CIMultiDict[str] | None = None
    if warnings:
        headers = CIMultiDict()
        for warning in warnings:
            escaped = warning.replace("\\", "\\\\").replace('"', '\\"')
            headers.add("Warning", f'299 - "{escaped}"')
    return web.Response(body=body, status=status, content_type=_JSON, headers=headers)


def _error_response(error: ApiError) -> web.Response:
    return _response(error.body(), error.code)


def _bool(value: str) -> bool:
    return value.lower() in ("true", "1")


def _int(params: Any, name: str) -> int:
    text = params.get(name, "")
    if not text:
        return 0
    try:
        return int(text)
    except ValueError:
        raise errors.bad_request(f"invalid {name} {text!r}: must be an integer") from None


class ApiApp:
    """Builds the `web.Application` over a `Rest` and serves its requests; `middlewares`
    (fault injection) run after authentication."""

    def __init__(
        self,
        rest: Rest,
        token: str,
        watch_options: WatchOptions | None = None,
        server_address: str = "",
        middlewares: Sequence[Middleware] = (),
    ) -> None:
        self.rest = rest
        self._token = token
        self.watch_options = watch_options or WatchOptions()
        self._middlewares = list(middlewares)
        self.discovery = Discovery(rest.catalog, server_address)
        self.openapi = OpenApi(rest.catalog)

    def build(self) -> web.Application:
        app = web.Application(
            middlewares=[token_auth(self._token), *self._middlewares, self._errors],
            client_max_size=MAX_BODY,
        )
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """API errors become Status responses; anything unexpected a 500 (never a crash)."""
        try:
            return await handler(request)
        except ApiError as error:
            return _error_response(error)
        except web.HTTPRequestEntityTooLarge:
            return _error_response(errors.too_large(MAX_BODY))
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception as error:  # bad input must never take the server down
            _log.exception("internal error serving %s %s", request.method, request.path)
            return _error_response(ApiError(500, "InternalError", f"internal error: {error}"))

    # -- routing ---------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        parts = [p for p in path.split("/") if p]
        if not parts:
            return _response(orjson.dumps({"paths": ["/api", "/apis", "/openapi/v3", "/version"]}))
        head = parts[0]
        if head == "api" and len(parts) >= 2 and parts[1] == "v1" and len(parts) > 2:
            return await self._resource(request, "", "v1", parts[2:])
        if head == "apis" and len(parts) > 3:
            return await self._resource(request, parts[1], parts[2], parts[3:])
        if head in ("api", "apis", "version") and request.method == "GET":
            doc = self.discovery.document(path)
            if doc is not None:
                return _response(doc)
        if head == "openapi" and request.method == "GET":
            return self._openapi(parts)
        if head in ("healthz", "readyz", "livez"):
            return web.Response(text="ok")
        raise errors.path_not_found(path)

    def _openapi(self, parts: list[str]) -> web.Response:
        if parts[1:] == ["v3"]:
            return _response(self.openapi.index())
        if len(parts) > 2 and parts[1] == "v3":
            doc = self.openapi.document("/".join(parts[2:]))
            if doc is not None:
                return _response(doc)
        raise errors.path_not_found("/" + "/".join(parts))

    def _target(self, group: str, version: str, rest: list[str]) -> Target:
        catalog = self.rest.catalog
        watch = False
        if rest[0] == "watch":
            watch, rest = True, rest[1:]
        namespace: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            candidate = catalog.lookup(group, version, rest[2])
            if candidate is not None and candidate.info.namespaced:
                namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise errors.path_not_found("/".join(rest))
        served = catalog.lookup(group, version, rest[0])
        if served is None:
            gv = f"{group}/{version}" if group else version
            raise errors.path_not_found(f"{gv}, Resource={rest[0]}")
        if served.info.namespaced and namespace is None and len(rest) > 1:
            raise errors.path_not_found("/".join(rest))
        name = rest[1] if len(rest) > 1 else ""
        subresource = rest[2] if len(rest) > 2 else ""
        if subresource and subresource not in served.info.subresources:
            raise errors.path_not_found(f"{served.info.plural}/{subresource}")
        return Target(served, namespace, name, subresource, watch)

    async def _resource(
        self, request: web.Request, group: str, version: str, rest: list[str]
    ) -> web.StreamResponse:
        target = self._target(group, version, rest)
        method = request.method
        query = request.query
        watch = target.watch or _bool(query.get("watch", ""))
        info = target.served.info
        self.rest.audit.record(
            AuditRecord(
                request.headers.get("User-Agent", ""),
                request_verb(method, bool(target.name), watch),
                info.group,
                info.plural,
                target.subresource,
                target.namespace or "",
            )
        )
        for value in query.getall("dryRun", []):
            if value != "All":
                raise errors.bad_request(
                    f'dryRun: Unsupported value: "{value}": supported values: "All"'
                )
        if method == "GET":
            if watch:
                return await self._watch(request, target)
            if target.name:
                stored = self.rest.get(target.served, target.namespace or "", target.name)
                return self._object_response(request, target.served, stored)
            return self._list(request, target)
        if method == "POST" and not target.name:
            return await self._create(request, target)
        if method == "PUT" and target.name:
            return await self._update(request, target)
        if method == "PATCH" and target.name:
            return await self._patch(request, target)
        if method == "DELETE" and target.name:
            return await self._delete(request, target)
        if method == "DELETE":
            return await self._delete_collection(request, target)
        raise errors.method_not_allowed()

    # -- encoding --------------------------------------------------------------------------

    def _object_response(
        self,
        request: web.Request,
        served: ServedResource,
        stored: StoredObject,
        status: int = 200,
        warnings: list[str] | None = None,
    ) -> web.Response:
        accept = request.headers.get("Accept", "")
        obj, raw = served.present(stored)
        if "as=Table" in accept:
            raw = orjson.dumps(self.table(request, served, [obj], str(stored.rv)))
        elif "as=PartialObjectMetadata" in accept:
            raw = orjson.dumps(_partial(obj))
        return _response(raw, status, warnings)

    def table(
        self,
        request: web.Request,
        served: ServedResource,
        objects: list[dict[str, Any]],
        resource_version: str,
        page: Page | None = None,
        columns: bool = True,
    ) -> dict[str, Any]:
        include = request.query.get("includeObject", "Metadata") or "Metadata"
        if include not in ("None", "Metadata", "Object"):
            raise errors.bad_request(
                f'includeObject must be "None", "Metadata" or "Object", not {include!r}'
            )
        table = render_table(
            objects,
            list(served.columns),
            include_object=include,
            now=self.rest.now(),
            resource_version=resource_version,
            continue_token=page.continue_token if page else "",
            remaining=page.remaining if page else None,
        )
        if not columns:
            table["columnDefinitions"] = []
        return table

    def _list(self, request: web.Request, target: Target) -> web.Response:
        query = request.query
        served = target.served
        selector = self._filter(request, target)
        page = self.rest.list_page(
            served,
            target.namespace,
            selector,
            limit=_int(query, "limit"),
            continue_token=query.get("continue", ""),
        )
        api_version = served.info.gvk.api_version
        accept = request.headers.get("Accept", "")
        if "as=Table" in accept:
            objects = [served.present(s)[0] for s in page.items]
            table = self.table(request, served, objects, str(page.resource_version), page)
            return _response(orjson.dumps(table))
        meta: dict[str, Any] = {"resourceVersion": str(page.resource_version)}
        if page.continue_token:
            meta["continue"] = page.continue_token
        if page.remaining is not None:
            meta["remainingItemCount"] = page.remaining
        if "as=PartialObjectMetadataList" in accept:
            body = {
                "kind": "PartialObjectMetadataList",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": meta,
                "items": [_partial(served.present(s)[0]) for s in page.items],
            }
            return _response(orjson.dumps(body))
        head = orjson.dumps(
            {"kind": served.info.list_kind, "apiVersion": api_version, "metadata": meta}
        )
        items = b",".join(served.present(s)[1] for s in page.items)
        return _response(head[:-1] + b',"items":[' + items + b"]}")

    def _filter(self, request: web.Request, target: Target) -> Filter:
        query = request.query
        fields = query.get("fieldSelector", "")
        if target.name:
            name_field = f"metadata.name={target.name}"
            fields = f"{fields},{name_field}" if fields else name_field
        return parse_filter(
            target.served.info.group_resource, query.get("labelSelector", ""), fields
        )

    # -- writes ----------------------------------------------------------------------------

    async def _body(self, request: web.Request) -> Any:
        raw = await request.read()
        if len(raw) > MAX_BODY:
            raise errors.too_large(MAX_BODY)
        content_type = request.content_type
        if "protobuf" in content_type or "cbor" in content_type:
            raise errors.unsupported_media_type(
                f"the body of the request was in an unsupported format ({content_type}): this "
                "server accepts application/json and application/yaml"
            )
        try:
            if "yaml" in content_type:
                return yaml.safe_load(raw)
            return orjson.loads(raw)
        except (orjson.JSONDecodeError, yaml.YAMLError) as error:
            raise errors.bad_request(
                f"the body of the request could not be decoded: {error}"
            ) from None

    def _writer(self, request: web.Request) -> Rest:
        """The verbs a write uses: a dry-run view with `dryRun=All`."""
        return self.rest.dry_run() if "dryRun" in request.query else self.rest

    @staticmethod
    def _validation(request: web.Request) -> str:
        value = request.query.get("fieldValidation", "Warn") or "Warn"
        if value not in _VALIDATION:
            raise errors.bad_request(
                f'fieldValidation must be one of "Ignore", "Warn" or "Strict", not {value!r}'
            )
        return value

    def _written(
        self, request: web.Request, target: Target, written: Written, status: int = 200
    ) -> web.Response:
        return self._object_response(
            request, target.served, written.stored, status, written.warnings
        )

    async def _create(self, request: web.Request, target: Target) -> web.Response:
        if target.served.info.namespaced and target.namespace is None:
            raise errors.method_not_allowed("a namespaced object is created in a namespace")
        body = await self._body(request)
        written = self._writer(request).create(
            target.served, target.namespace or "", body, self._validation(request)
        )
        return self._written(request, target, written, 201)

    async def _update(self, request: web.Request, target: Target) -> web.Response:
        body = await self._body(request)
        written = self._writer(request).update(
            target.served,
            target.namespace or "",
            target.name,
            body,
            target.subresource,
            self._validation(request),
        )
        return self._written(request, target, written)

    async def _patch(self, request: web.Request, target: Target) -> web.Response:
        body = await request.read()
        written = self._writer(request).patch(
            target.served,
            target.namespace or "",
            target.name,
            request.content_type,
            body,
            target.subresource,
            self._validation(request),
        )
        return self._written(request, target, written)

    async def _delete_options(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        options = orjson.loads(raw) if raw.strip() else {}
        if not isinstance(options, dict):
            raise errors.bad_request("DeleteOptions must be a JSON object")
        return options

    async def _delete(self, request: web.Request, target: Target) -> web.Response:
        try:
            options = await self._delete_options(request)
        except orjson.JSONDecodeError as error:
            raise errors.bad_request(f"invalid DeleteOptions: {error}") from None
        written = self._writer(request).delete(
            target.served, target.namespace or "", target.name, options
        )
        if not written.deleted:
            return self._written(request, target, written)
        info = target.served.info
        details: dict[str, Any] = {
            "name": target.name,
            "kind": info.plural,
            "uid": written.stored.obj["metadata"].get("uid", ""),
        }
        if info.group:
            details["group"] = info.group
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": details,
        }
        return _response(orjson.dumps(status))

    async def _delete_collection(self, request: web.Request, target: Target) -> web.Response:
        served = target.served
        page = self.rest.list_page(served, target.namespace, self._filter(request, target))
        options = await self._delete_options(request)
        writer = self._writer(request)
        for stored in page.items:
            meta = stored.obj["metadata"]
            writer.delete(served, meta.get("namespace") or "", meta["name"], options)
        status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
        return _response(orjson.dumps(status))

    # -- watch -----------------------------------------------------------------------------

    async def _watch(self, request: web.Request, target: Target) -> web.StreamResponse:
        query = request.query
        served = target.served
        selector = self._filter(request, target)
        rv_text = query.get("resourceVersion", "")
        initial_events = _bool(query.get("sendInitialEvents", ""))
        since: int | None = None
        if rv_text not in ("", "0") and not initial_events:
            try:
                since = int(rv_text)
            except ValueError:
                raise errors.bad_request(f"invalid resource version: {rv_text!r}") from None
        timeout = _int(query, "timeoutSeconds")
        bookmarks = _bool(query.get("allowWatchBookmarks", ""))
        response = web.StreamResponse(headers={"Content-Type": _JSON, "Cache-Control": "no-cache"})
        try:
            watcher = self.rest.storage.watch(
                served.key, target.namespace, since, self.watch_options.queue_size
            )
        except TooOld as error:
            await response.prepare(request)
            status = errors.expired(str(error)).status()
            await response.write(orjson.dumps({"type": "ERROR", "object": status}) + b"\n")
            return response
        stream = _WatchStream(self, request, served, selector)
        try:
            await response.prepare(request)
            await response.write(b"".join(stream.encode(e) for e in watcher.initial))
            if initial_events:
                await response.write(stream.bookmark(initial_end=True))
            await self._pump(response, watcher, stream, timeout, bookmarks)
        except ConnectionResetError:
            pass
        finally:
            watcher.close()
        return response

    async def _pump(
        self,
        response: web.StreamResponse,
        watcher: Watcher,
        stream: _WatchStream,
        timeout_seconds: int,
        bookmarks: bool,
    ) -> None:
        """Send live events, each batch the watcher has ready (`_WATCH_SETTLE` loop turns after
        the first) in one write, and (with `bookmarks`) a bookmark once per interval when
        nothing is queued, until the watch is closed or `timeout_seconds` passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_seconds if timeout_seconds > 0 else None
        interval = self.watch_options.bookmark_interval
        next_bookmark = loop.time() + interval if bookmarks else None
        watcher.alarm(_earliest(deadline, next_bookmark))
        while True:
            events = await watcher.batch(_WATCH_BATCH, _WATCH_SETTLE)
            if events is None:
                return
            if events:
                await response.write(b"".join([stream.encode(e) for e in events]))
                continue
            now = loop.time()
            if deadline is not None and now >= deadline:
                return
            await response.write(stream.bookmark())
            next_bookmark = now + interval
            watcher.alarm(_earliest(deadline, next_bookmark))


def _earliest(*times: float | None) -> float | None:
    return min((t for t in times if t is not None), default=None)


class _WatchStream:
    """Encodes one watch's events: selector transitions, version, Table rows, bookmarks."""

    def __init__(
        self, app: ApiApp, request: web.Request, served: ServedResource, selector: Filter
    ) -> None:
        self._app = app
        self._request = request
        self._served = served
        self._selector = selector
        self._api_version = served.info.gvk.api_version
        accept = request.headers.get("Accept", "")
        self._table = "as=Table" in accept
        self._partial = "as=PartialObjectMetadata" in accept
        self._first_table = True

    def _type(self, event: WatchEvent) -> str | None:
        if self._selector.everything:
            return event.type
        now = self._selector.matches(event.new.obj)
        before = event.old is not None and self._selector.matches(event.old.obj)
        if event.type == ADDED:
            return ADDED if now else None
        if event.type == DELETED:
            return DELETED if before or now else None
        if now:
            return MODIFIED if before else ADDED
        return DELETED if before else None

    def encode(self, event: WatchEvent) -> bytes:
        kind = self._type(event)
        if kind is None:
            return b""
        plain = not (self._table or self._partial)
        if plain and event.new.obj.get("apiVersion") == self._api_version:
            return event.line(kind)
        obj, raw = self._served.present(event.new)
        if self._table:
            table = self._app.table(
                self._request, self._served, [obj], str(event.rv), columns=self._first_table
            )
            self._first_table = False
            raw = orjson.dumps(table)
        elif self._partial:
            raw = orjson.dumps(_partial(obj))
        return b'{"type":"' + kind.encode() + b'","object":' + raw + b"}\n"

    def bookmark(self, initial_end: bool = False) -> bytes:
        meta: dict[str, Any] = {"resourceVersion": str(self._app.rest.storage.resource_version)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        obj = {"kind": self._served.info.kind, "apiVersion": self._api_version, "metadata": meta}
        return orjson.dumps({"type": "BOOKMARK", "object": obj}) + b"\n"


def _partial(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }
