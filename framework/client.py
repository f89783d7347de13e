"""The async Kubernetes API client: typed errors, safe retries, models or plain dicts.

`Client` speaks the REST API for any kind the resource registry knows (learning unknown kinds
from the server's discovery) and returns instances of a bound `KubeObject` class when given one,
plain dicts when given a `GroupVersionKind` or `ResourceInfo`. Configuration (kubeconfig with
tokens and certificates, in-cluster service account) and the TLS transport come from
kubernetes-asyncio; requests and responses bypass its generated models (orjson in, orjson or
pydantic out). Requests go through `framework.transport` (a lean keep-alive HTTP/1.1 client
with the same TLS settings), or through aiohttp when the configuration names a proxy; watches
(`stream`) through aiohttp, on a session that does not consult the environment (proxy
variables, .netrc) on every request.

Retries (tenacity, bounded, logged, counted in `rest_client_request_retries_total`):
- reads (GET, HEAD) retry on connection errors and timeouts, 429 and 5xx;
- writes retry only on 429 or 503 answers that say when to come back (Retry-After header or
  `retryAfterSeconds`), which the server sends only for requests it did not process; never on
  a connection error, since the server may have acted (a repeated generateName create would
  duplicate the object; a repeated PUT or DELETE would fail with 409 or 404 after succeeding).
A server-given delay is honoured (capped); otherwise the wait grows exponentially with jitter.
Every answer, retried or not, is counted in `rest_client_requests_total{code,method}` (code
"<error>" when there was none).
"""

from __future__ import annotations

import builtins
import inspect
import os
import re
import ssl
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Mapping,
    Sequence,
)
from contextlib import aclosing, asynccontextmanager, suppress
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Any, Generic, Literal, Protocol, TypedDict, TypeVar, Unpack, overload
from urllib.parse import quote, urlencode

import aiohttp
import orjson
import structlog
from kubernetes_asyncio.client import Configuration
from kubernetes_asyncio.client.rest import RESTClientObject
from kubernetes_asyncio.config import load_incluster_config, load_kube_config
from multidict import CIMultiDict, CIMultiDictProxy
from prometheus_client import CollectorRegistry
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)
from yarl import URL

from framework.clock import REAL_CLOCK, Clock
from framework.errors import (
    ApiError,
    Gone,
    NoKindMatch,
    NotFound,
    Unauthorized,
    error_from_response,
)
from framework.metrics import LeanCounter, per_registry
from framework.models import KubeObject
from framework.patch import diff_contains_list, json_equal, merge_diff
from framework.resources import GroupVersionKind, ResourceInfo, ResourceRegistry
from framework.selectors import FieldSelector, LabelSelector
from framework.transport import ACCEPT_ENCODING, Transport

__all__ = [
    "Client",
    "HasKubeconfig",
    "ObjectList",
    "OperationResult",
    "PatchType",
    "Preconditions",
    "PropagationPolicy",
    "Response",
    "RetryPolicy",
]

JSON = dict[str, Any]
M = TypeVar("M", bound=KubeObject)
T = TypeVar("T")
Kind = type[KubeObject] | GroupVersionKind | ResourceInfo
LabelSelectorLike = str | Mapping[str, str] | LabelSelector
FieldSelectorLike = str | FieldSelector
PatchType = Literal["merge", "json", "strategic"]
PropagationPolicy = Literal["Foreground", "Background", "Orphan"]

_PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
}
_READ_METHODS = frozenset({"GET", "HEAD"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_CONNECTION_ERRORS = (aiohttp.ClientError, TimeoutError)
_NO_CODE = "<error>"
# A path that needs no percent-encoding (nor decoding): sent as written, without yarl parsing
# and re-quoting it.
_PLAIN_PATH = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/]*")

_log = structlog.get_logger("kubeloop.client")


class OperationResult(StrEnum):
    """What `create_or_update` / `create_or_patch` did (controller-runtime's names)."""

    UNCHANGED = "unchanged"
    CREATED = "created"
    UPDATED = "updated"
    UPDATED_STATUS = "updatedStatus"
    UPDATED_STATUS_ONLY = "updatedStatusOnly"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds of the retry loop: total attempts per request, the exponential backoff used when
    the server gives no delay, and the longest server-given delay honoured."""

    attempts: int = 5
    backoff_initial: float = 0.2
    backoff_max: float = 5.0
    retry_after_max: float = 30.0


@dataclass(frozen=True, slots=True)
class Preconditions:
    """Delete only if the object still has this uid and/or resourceVersion (else 409)."""

    uid: str | None = None
    resource_version: str | None = None


@dataclass(frozen=True, slots=True)
class Response:
    """A successful answer: HTTP code, headers and the undecoded body."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass(slots=True)
class ObjectList(Generic[T]):
    """Objects from a list; `resource_version` is the snapshot to watch from, `continue_token`
    the next page's token (None on the last page)."""

    items: list[T]
    resource_version: str
    continue_token: str | None = None
    remaining_item_count: int | None = None


class HasKubeconfig(Protocol):
    """Anything that names a kubeconfig file, e.g. `framework.envtest.Environment`."""

    @property
    def kubeconfig(self) -> str | os.PathLike[str]: ...


def _selector_text(selector: LabelSelectorLike | FieldSelectorLike) -> str:
    if isinstance(selector, Mapping):
        return str(LabelSelector.from_labels(selector))
    return str(selector)


def _metadata(obj: KubeObject | JSON) -> tuple[str, str | None, str | None]:
    """(name or "", namespace, resourceVersion) of an object."""
    if isinstance(obj, KubeObject):
        meta = obj.metadata
        return meta.name or "", meta.namespace, meta.resource_version
    raw = obj.get("metadata") or {}
    return raw.get("name") or "", raw.get("namespace"), raw.get("resourceVersion")


def _to_json(obj: KubeObject | JSON) -> JSON:
    return obj.to_dict() if isinstance(obj, KubeObject) else obj


def collection_path(info: ResourceInfo, namespace: str | None) -> str:
    """The REST path of a kind's collection, in `namespace` when the kind is namespaced."""
    root = f"/apis/{info.group}/{info.version}" if info.group else f"/api/{info.version}"
    if info.namespaced and namespace:
        return f"{root}/namespaces/{namespace}/{info.plural}"
    return f"{root}/{info.plural}"


def _object_path(
    info: ResourceInfo, name: str, namespace: str | None, subresource: str | None = None
) -> str:
    if not name:
        raise ValueError(f"a {info.kind} needs a name here")
    if info.namespaced and not namespace:
        raise ValueError(f"{info.kind} is namespaced: {name!r} needs a namespace")
    path = f"{collection_path(info, namespace)}/{quote(name, safe='')}"
    return f"{path}/{subresource}" if subresource else path


def _write_query(options: WriteOptions) -> list[tuple[str, str]]:
    query: list[tuple[str, str]] = []
    if options.get("dry_run"):
        query.append(("dryRun", "All"))
    field_manager = options.get("field_manager")
    if field_manager:
        query.append(("fieldManager", field_manager))
    return query


def _with_resource_version(patch: Any, patch_type: PatchType, resource_version: str | None) -> Any:
    """The patch guarded by an optimistic lock: the server answers 409 Conflict unless the
    object still has `resource_version`."""
    if resource_version is None:
        return patch
    if patch_type == "json":
        lock = {"op": "replace", "path": "/metadata/resourceVersion", "value": resource_version}
        return [lock, *patch]
    metadata = {**patch.get("metadata", {}), "resourceVersion": resource_version}
    return {**patch, "metadata": metadata}


def _resource_infos(group: str, version: str, discovery: Mapping[str, Any]) -> list[ResourceInfo]:
    """ResourceInfo of every kind in one group-version's APIResourceList."""
    resources = discovery.get("resources") or []
    subresources: dict[str, set[str]] = {}
    for resource in resources:
        plural, _, sub = str(resource.get("name", "")).partition("/")
        if sub:
            subresources.setdefault(plural, set()).add(sub)
    return [
        ResourceInfo(
            gvk=GroupVersionKind(group, version, str(r["kind"])),
            plural=str(r["name"]),
            singular=str(r.get("singularName") or str(r["kind"]).lower()),
            namespaced=bool(r.get("namespaced")),
            subresources=frozenset(subresources.get(str(r["name"]), ())),
            short_names=tuple(r.get("shortNames") or ()),
            categories=tuple(r.get("categories") or ()),
            verbs=tuple(r.get("verbs") or ()),
        )
        for r in resources
        if "/" not in str(r.get("name", ""))
    ]


def _open_session(
    configuration: Configuration, request_timeout: float
) -> tuple[aiohttp.ClientSession, dict[str, Any]]:
    """kubernetes-asyncio's transport for `configuration` (TLS context, client certificate,
    connection limit, proxy), on a session with `trust_env=False`, and the per-request options
    (proxy, TLS server name) that its request method would add."""
    rest = RESTClientObject(configuration)
    env_session = rest.pool_manager
    session = aiohttp.ClientSession(
        connector=env_session.connector,
        trust_env=False,
        read_bufsize=2**21,
        timeout=aiohttp.ClientTimeout(total=request_timeout),
    )
    env_session.detach()
    # aiohttp resends a GET, PUT or DELETE once after a dropped connection (its own test client
    # turns that off the same way); only the retry policy may repeat a request.
    session._retry_connection = False
    options: dict[str, Any] = {}
    if rest.server_hostname:
        options["server_hostname"] = rest.server_hostname
    if rest.proxy:
        options["proxy"] = rest.proxy
    if rest.proxy_headers:
        options["proxy_headers"] = rest.proxy_headers
    return session, options


def _open_transport(
    configuration: Configuration, base: URL, request_timeout: float
) -> Transport | None:
    """The lean transport to the server of `configuration`, with the TLS context that
    kubernetes-asyncio's RESTClientObject builds (CA, client certificate, verification
    switches); None through a proxy, which only aiohttp speaks."""
    if configuration.proxy or base.host is None:
        return None
    context: ssl.SSLContext | None = None
    if base.scheme == "https":
        context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
        if configuration.cert_file:
            context.load_cert_chain(configuration.cert_file, keyfile=configuration.key_file)
        if not configuration.verify_ssl:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if configuration.disable_strict_ssl_verification:
            context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    return Transport(
        base.host,
        base.port or (443 if context is not None else 80),
        ssl_context=context,
        server_hostname=configuration.tls_server_name or None,
        limit=configuration.connection_pool_maxsize,
        timeout=request_timeout,
    )


@dataclass(frozen=True, slots=True)
class _Headers:
    """One set of request headers, for aiohttp (`fields`) and for the transport (`wire`: the
    header lines, Host and Accept-Encoding included as aiohttp would add them)."""

    fields: CIMultiDictProxy[str]
    wire: bytes


@dataclass(frozen=True, slots=True)
class _Metrics:
    requests: LeanCounter
    retries: LeanCounter


@per_registry
def _metrics_of(registry: CollectorRegistry) -> _Metrics:
    """The client metric families in `registry`, created once and shared by its clients."""
    return _Metrics(
        requests=LeanCounter(
            "rest_client_requests",
            "API requests by HTTP code (<error>: no answer) and method.",
            ["code", "method"],
            registry,
        ),
        retries=LeanCounter(
            "rest_client_request_retries",
            "API requests retried, by the code that caused the retry and method.",
            ["code", "method"],
            registry,
        ),
    )


class Client:
    """An async client for the Kubernetes API. Use as `async with` or call `close()`.

    `resources` is the registry of known kinds (default: the built-ins); kinds it lacks are
    learnt from discovery. `registry` receives the client's metrics (default: a private one;
    clients sharing a registry share the metric families).
    `clock` is used for retry waits. `refresh_credentials` reloads the configuration's
    credentials (an exec plugin's or a token file's); when given, a 401 answer makes the client
    call it and send the request once more (the server processed nothing). Must be constructed
    inside a running event loop.
    """

    def __init__(
        self,
        configuration: Configuration,
        *,
        resources: ResourceRegistry | None = None,
        registry: CollectorRegistry | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock = REAL_CLOCK,
        request_timeout: float = 60.0,
        user_agent: str = "kubeloop",
        refresh_credentials: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.configuration = configuration
        self._refresh_credentials = refresh_credentials
        self.resources = resources if resources is not None else ResourceRegistry.with_builtins()
        self.registry = registry if registry is not None else CollectorRegistry()
        self.retry = retry or RetryPolicy()
        self._clock = clock
        self._base_url = str(configuration.host).rstrip("/")
        base = URL(self._base_url)
        self._scheme, self._authority, self._base_path = (
            base.scheme,
            base.raw_authority,
            base.raw_path.rstrip("/"),
        )
        self._host_header = base.host_port_subcomponent or ""
        self._session, self._request_options = _open_session(configuration, request_timeout)
        self._transport = _open_transport(configuration, base, request_timeout)
        self._headers = {"Accept": "application/json", "User-Agent": user_agent}
        # The request headers by (content type, token), built once.
        self._prepared_headers: dict[tuple[str | None, str | None], _Headers] = {}
        self._backoff = wait_exponential_jitter(
            multiplier=self.retry.backoff_initial,
            max=self.retry.backoff_max,
            jitter=self.retry.backoff_initial,
        )
        self._metrics = _metrics_of(self.registry)

    # --- construction -------------------------------------------------------------------

    @classmethod
    async def from_kubeconfig(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        context: str | None = None,
        **options: Any,
    ) -> Client:
        """A client for a kubeconfig file (default: $KUBECONFIG or ~/.kube/config), whose
        credentials are reloaded when the server answers 401."""
        configuration = Configuration()
        loader = await load_kube_config(
            config_file=os.fspath(path) if path is not None else None,
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
        refresh = partial(loader.load_and_set, configuration)
        return cls(configuration, refresh_credentials=refresh, **options)

    @classmethod
    async def for_environment(cls, environment: HasKubeconfig, **options: Any) -> Client:
        """A client for a local control plane (`framework.envtest.Environment`)."""
        return await cls.from_kubeconfig(environment.kubeconfig, **options)

    @classmethod
    async def in_cluster(cls, **options: Any) -> Client:
        """A client using the pod's service account (token re-read as it rotates)."""
        configuration = Configuration()
        load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        return cls(configuration, **options)

    @classmethod
    async def from_default(cls, **options: Any) -> Client:
        """In-cluster when running in a pod, else the default kubeconfig."""
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            return await cls.in_cluster(**options)
        return await cls.from_kubeconfig(**options)

    async def close(self) -> None:
        if self._transport is not None:
            await self._transport.close()
        await self._session.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- transport ----------------------------------------------------------------------

    def _target(self, path: str, query: Sequence[tuple[str, str]]) -> str:
        """The request target as sent: the server's base path, `path` percent-encoded (as yarl
        would), then the encoded query."""
        if _PLAIN_PATH.fullmatch(path):
            target = self._base_path + path
        else:
            target = URL(self._base_url + path).raw_path
        return f"{target}?{urlencode(query)}" if query else target

    def _url(self, target: str) -> URL:
        """The URL of a request target, for aiohttp (as built: no parsing)."""
        path, _, query_string = target.partition("?")
        return URL.build(
            scheme=self._scheme,
            authority=self._authority,
            path=path,
            query_string=query_string,
            encoded=True,
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        body: bytes | JSON | builtins.list[Any] | None = None,
        content_type: str = "application/json",
    ) -> Response:
        """Send one request, retried per the policy (and once more with reloaded credentials
        after a 401); raise an `ApiError` for a non-2xx answer.

        `path` starts with "/api" or "/apis"; a `body` that is not bytes is encoded as JSON.
        """
        data = body if body is None or isinstance(body, bytes) else orjson.dumps(body)
        target = self._target(path, query)
        try:
            return await self._send(method, path, target, data, content_type)
        except Unauthorized:
            if self._refresh_credentials is None:
                raise
            await self._reload_credentials(method, path)
            return await self._send(method, path, target, data, content_type)

    async def _send(
        self, method: str, path: str, target: str, data: bytes | None, content_type: str
    ) -> Response:
        """The first attempt runs bare; tenacity takes over only after a retryable failure,
        replaying that failure as its own first attempt (same waits, logs and counts)."""
        retryable = _retryable_read if method in _READ_METHODS else _retryable_write
        try:
            return await self._attempt(method, target, data, content_type)
        except Exception as error:
            if self.retry.attempts < 2 or not retryable(error):
                raise
            failure: BaseException | None = error

        async def attempt() -> Response:
            nonlocal failure
            if failure is not None:
                replayed, failure = failure, None
                raise replayed
            return await self._attempt(method, target, data, content_type)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retry.attempts),
            retry=retry_if_exception(retryable),
            wait=self._wait,
            sleep=self._clock.sleep,
            before_sleep=partial(self._log_retry, method, path),
            reraise=True,
        )
        response: Response = await retrying(attempt)
        return response

    async def _reload_credentials(self, method: str, path: str) -> None:
        assert self._refresh_credentials is not None
        _log.info("reloading credentials after 401", method=method, path=path)
        await self._refresh_credentials()

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        read_timeout: float | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Open a request whose body the caller reads as it arrives (a watch): no retries, no
        total timeout; `read_timeout` bounds the silence between chunks. Raises an `ApiError`
        for a non-2xx answer (after reloading the credentials on 401, for the next attempt)."""
        try:
            response = await self._session.request(
                method,
                self._url(self._target(path, query)),
                headers=(await self._headers_for(None)).fields,
                timeout=aiohttp.ClientTimeout(total=None, sock_read=read_timeout),
                **self._request_options,
            )
        except _CONNECTION_ERRORS:
            self._count(_NO_CODE, method)
            raise
        try:
            self._count(str(response.status), method)
            if response.status == 401 and self._refresh_credentials is not None:
                await self._reload_credentials(method, path)
            if response.status >= 300:
                raise error_from_response(
                    response.status, await response.read(), response.headers.get("Retry-After")
                )
            yield response
        finally:
            response.release()
            await response.wait_for_close()

    async def _headers_for(self, content_type: str | None) -> _Headers:
        configuration = self.configuration
        token: str | None = None
        if "BearerToken" in configuration.api_key:
            if configuration.refresh_api_key_hook is None:
                token = _bearer_token(configuration)
            else:
                token = await configuration.get_api_key_with_prefix("BearerToken")
        key = (content_type, token or None)
        headers = self._prepared_headers.get(key)
        if headers is None:
            if len(self._prepared_headers) >= 8:  # tokens rotate: keep only recent ones
                self._prepared_headers.clear()
            fields = CIMultiDict(self._headers)
            if content_type is not None:
                fields["Content-Type"] = content_type
            if token:
                fields["Authorization"] = token
            wire = {"Host": self._host_header, **fields, "Accept-Encoding": ACCEPT_ENCODING}
            if any("\r" in value or "\n" in value for value in wire.values()):
                raise ValueError("a header value holds a line break")
            headers = self._prepared_headers[key] = _Headers(
                CIMultiDictProxy(fields),
                "".join(f"{name}: {value}\r\n" for name, value in wire.items()).encode(),
            )
        return headers

    async def _attempt(
        self, method: str, target: str, data: bytes | None, content_type: str
    ) -> Response:
        headers = await self._headers_for(content_type if data is not None else None)
        try:
            if self._transport is not None:
                answer = await self._transport.request(
                    _message(method, target, headers.wire, data),
                    head_only=method == "HEAD",
                )
                status, response_headers, body = answer.status, answer.headers, answer.body
            else:
                async with self._session.request(
                    method,
                    self._url(target),
                    data=data,
                    headers=headers.fields,
                    **self._request_options,
                ) as response:
                    status, response_headers = response.status, response.headers
                    body = await response.read()
        except _CONNECTION_ERRORS:
            self._count(_NO_CODE, method)
            raise
        self._count(str(status), method)
        if status >= 300:
            raise error_from_response(status, body, response_headers.get("Retry-After"))
        return Response(status, response_headers, body)

    def _count(self, code: str, method: str) -> None:
        self._metrics.requests.labels(code, method).inc()

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, ApiError) and error.retry_after is not None:
            return min(error.retry_after, self.retry.retry_after_max)
        return float(self._backoff(state))

    def _log_retry(self, method: str, path: str, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        code = str(error.status) if isinstance(error, ApiError) else _NO_CODE
        self._metrics.retries.labels(code, method).inc()
        _log.warning(
            "retrying API request",
            method=method,
            path=path,
            attempt=state.attempt_number,
            delay=state.next_action.sleep if state.next_action else 0.0,
            code=code,
            error=repr(error),
        )

    # --- kinds --------------------------------------------------------------------------

    async def discover(self, group: str, version: str) -> builtins.list[ResourceInfo]:
        """Learn every kind the server serves in group/version into `resources` (replacing
        what the registry believed) and return them. NotFound if the server lacks it."""
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        infos = _resource_infos(group, version, (await self.request("GET", path)).json())
        for info in infos:
            holder = self.resources.by_resource(group, version, info.plural)
            if holder is not None and holder.gvk != info.gvk:
                self.resources.unregister(holder.gvk)
            self.resources.register(info)
        return infos

    async def ensure_resource(self, gvk: GroupVersionKind) -> ResourceInfo:
        """The registry's entry for `gvk`, asking discovery when there is none.
        Raises `NoKindMatch` if the server does not serve the kind either."""
        info = self.resources.get(gvk)
        if info is None:
            with suppress(NotFound):
                await self.discover(gvk.group, gvk.version)
            info = self.resources.get(gvk)
        if info is None:
            raise NoKindMatch(f"the server does not serve {gvk}")
        return info

    async def _resolve(self, kind: Kind) -> tuple[ResourceInfo, type[KubeObject] | None]:
        if isinstance(kind, ResourceInfo):
            return kind, None
        if isinstance(kind, GroupVersionKind):
            return await self.ensure_resource(kind), None
        return kind.resource_info(), kind

    async def _resolve_object(
        self, obj: KubeObject | JSON
    ) -> tuple[ResourceInfo, type[KubeObject] | None]:
        if isinstance(obj, KubeObject):
            model = type(obj)
            return model.__resource__ or await self.ensure_resource(obj.gvk), model
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if not (api_version and kind):
            raise ValueError("an object given as a dict needs apiVersion and kind")
        return await self.ensure_resource(
            GroupVersionKind.from_api_version(api_version, kind)
        ), None

    @staticmethod
    def _decode(body: bytes, model: type[KubeObject] | None) -> KubeObject | JSON:
        if model is not None:
            return model.model_validate_json(body)
        decoded: JSON = orjson.loads(body)
        return decoded

    # --- verbs --------------------------------------------------------------------------

    @overload
    async def get(self, kind: type[M], name: str, *, namespace: str | None = None) -> M: ...
    @overload
    async def get(
        self, kind: GroupVersionKind | ResourceInfo, name: str, *, namespace: str | None = None
    ) -> JSON: ...
    async def get(
        self, kind: Kind, name: str, *, namespace: str | None = None
    ) -> KubeObject | JSON:
        """The object `name` (in `namespace` for a namespaced kind). NotFound if absent."""
        info, model = await self._resolve(kind)
        return await self._get(info, model, name, namespace)

    async def _get(
        self, info: ResourceInfo, model: type[KubeObject] | None, name: str, namespace: str | None
    ) -> KubeObject | JSON:
        response = await self.request("GET", _object_path(info, name, namespace))
        return self._decode(response.body, model)

    @overload
    def pages(
        self, kind: type[M], **options: Unpack[ListOptions]
    ) -> AsyncIterator[ObjectList[M]]: ...
    @overload
    def pages(
        self, kind: GroupVersionKind | ResourceInfo, **options: Unpack[ListOptions]
    ) -> AsyncIterator[ObjectList[JSON]]: ...
    def pages(self, kind: Kind, **options: Unpack[ListOptions]) -> AsyncIterator[ObjectList[Any]]:
        """The list one page at a time (`limit` objects, default 500; None: all in one)."""
        return self._pages(kind, options, default_limit=500)

    async def _pages(
        self, kind: Kind, options: ListOptions, default_limit: int | None
    ) -> AsyncGenerator[ObjectList[Any]]:
        info, model = await self._resolve(kind)
        path = collection_path(info, options.get("namespace"))
        query = _list_query(options, default_limit)
        resource_version = options.get("resource_version")
        token = options.get("continue_token")
        if token:
            first_page = [*query, ("continue", token)]
        elif resource_version is not None:
            first_page = [*query, ("resourceVersion", resource_version)]
        else:
            first_page = query
        response = await self.request("GET", path, query=first_page)
        while True:
            page = _decode_list(response.body, info, model)
            yield page
            if not page.continue_token:
                return
            response = await self.request(
                "GET", path, query=[*query, ("continue", page.continue_token)]
            )

    @overload
    async def list(self, kind: type[M], **options: Unpack[ListOptions]) -> ObjectList[M]: ...
    @overload
    async def list(
        self, kind: GroupVersionKind | ResourceInfo, **options: Unpack[ListOptions]
    ) -> ObjectList[JSON]: ...
    async def list(self, kind: Kind, **options: Unpack[ListOptions]) -> ObjectList[Any]:
        """Every matching object: in one request, or in pages of `limit` when given. If a page's
        continue token expires (410) the list is redone in one request, as client-go's pager
        does."""
        pages = self._pages(kind, options, default_limit=None)
        result = await anext(pages)
        try:
            async for page in pages:
                result.items.extend(page.items)
        except Gone:
            unpaged: ListOptions = {**options, "limit": None, "continue_token": None}
            async with aclosing(self._pages(kind, unpaged, default_limit=None)) as whole:
                return await anext(whole)
        result.continue_token = None
        return result

    @overload
    async def create(self, obj: M, **options: Unpack[WriteOptions]) -> M: ...
    @overload
    async def create(self, obj: JSON, **options: Unpack[WriteOptions]) -> JSON: ...
    async def create(
        self, obj: KubeObject | JSON, **options: Unpack[WriteOptions]
    ) -> KubeObject | JSON:
        """Create `obj` (named, or with generateName); returns the stored object.
        AlreadyExists if the name is taken."""
        info, model = await self._resolve_object(obj)
        _, namespace, _ = _metadata(obj)
        if info.namespaced and not namespace:
            raise ValueError(f"{info.kind} is namespaced: set metadata.namespace")
        response = await self.request(
            "POST",
            collection_path(info, namespace),
            query=_write_query(options),
            body=_to_json(obj),
        )
        return self._decode(response.body, model)

    @overload
    async def update(
        self, obj: M, *, subresource: str | None = None, **options: Unpack[WriteOptions]
    ) -> M: ...
    @overload
    async def update(
        self, obj: JSON, *, subresource: str | None = None, **options: Unpack[WriteOptions]
    ) -> JSON: ...
    async def update(
        self,
        obj: KubeObject | JSON,
        *,
        subresource: str | None = None,
        **options: Unpack[WriteOptions],
    ) -> KubeObject | JSON:
        """Replace `obj` (PUT, or PUT of a subresource such as "status"). Its
        metadata.resourceVersion is the optimistic lock: Conflict if the object changed."""
        info, model = await self._resolve_object(obj)
        name, namespace, _ = _metadata(obj)
        response = await self.request(
            "PUT",
            _object_path(info, name, namespace, subresource),
            query=_write_query(options),
            body=_to_json(obj),
        )
        return self._decode(response.body, model)

    @overload
    async def patch(
        self, kind: type[M], name: str, patch: Any, **options: Unpack[PatchOptions]
    ) -> M: ...
    @overload
    async def patch(
        self,
        kind: GroupVersionKind | ResourceInfo,
        name: str,
        patch: Any,
        **options: Unpack[PatchOptions],
    ) -> JSON: ...
    async def patch(
        self, kind: Kind, name: str, patch: Any, **options: Unpack[PatchOptions]
    ) -> KubeObject | JSON:
        """Patch the object `name`: a merge patch (default), JSON patch or strategic merge
        patch, of the object or of a subresource. With `resource_version` the patch carries an
        optimistic lock (Conflict unless the object is still at that version)."""
        info, model = await self._resolve(kind)
        return await self._patch(info, model, name, patch, options)

    async def _patch(
        self,
        info: ResourceInfo,
        model: type[KubeObject] | None,
        name: str,
        patch: Any,
        options: PatchOptions,
    ) -> KubeObject | JSON:
        patch_type = options.get("patch_type", "merge")
        response = await self.request(
            "PATCH",
            _object_path(info, name, options.get("namespace"), options.get("subresource")),
            query=_write_query(options),
            body=_with_resource_version(patch, patch_type, options.get("resource_version")),
            content_type=_PATCH_CONTENT_TYPES[patch_type],
        )
        return self._decode(response.body, model)

    async def delete(
        self,
        kind: Kind,
        name: str,
        *,
        namespace: str | None = None,
        propagation_policy: PropagationPolicy | None = None,
        preconditions: Preconditions | None = None,
        grace_period_seconds: int | None = None,
        dry_run: bool = False,
    ) -> None:
        """Delete the object `name`. NotFound if absent; Conflict if a precondition fails.
        An object with finalizers is only marked for deletion."""
        info, _ = await self._resolve(kind)
        options: JSON = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if propagation_policy is not None:
            options["propagationPolicy"] = propagation_policy
        if preconditions is not None:
            options["preconditions"] = {
                key: value
                for key, value in (
                    ("uid", preconditions.uid),
                    ("resourceVersion", preconditions.resource_version),
                )
                if value is not None
            }
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if dry_run:
            options["dryRun"] = ["All"]
        await self.request("DELETE", _object_path(info, name, namespace), body=options)

    # --- controller-runtime's controllerutil --------------------------------------------

    @overload
    async def create_or_update(
        self, obj: M, mutate: Callable[[M], object]
    ) -> tuple[M, OperationResult]: ...
    @overload
    async def create_or_update(
        self, obj: JSON, mutate: Callable[[JSON], object]
    ) -> tuple[JSON, OperationResult]: ...
    async def create_or_update(
        self, obj: Any, mutate: Callable[[Any], object]
    ) -> tuple[Any, OperationResult]:
        """controller-runtime's CreateOrUpdate. `obj` names the object. If it does not exist,
        `mutate(obj)` runs and `obj` is created (CREATED). Otherwise `mutate` runs on the
        stored object; if that changed nothing the result is UNCHANGED (no request), else the
        object is updated (UPDATED; Conflict if it changed meanwhile). `mutate` may be async
        and must not change name or namespace. Returns the stored object and the result."""
        current, before = await self._mutate_stored(obj, mutate)
        if before is None:
            return current, OperationResult.CREATED
        if json_equal(_snapshot(current), before):
            return current, OperationResult.UNCHANGED
        return await self.update(current), OperationResult.UPDATED

    @overload
    async def create_or_patch(
        self, obj: M, mutate: Callable[[M], object]
    ) -> tuple[M, OperationResult]: ...
    @overload
    async def create_or_patch(
        self, obj: JSON, mutate: Callable[[JSON], object]
    ) -> tuple[JSON, OperationResult]: ...
    async def create_or_patch(
        self, obj: Any, mutate: Callable[[Any], object]
    ) -> tuple[Any, OperationResult]:
        """controller-runtime's CreateOrPatch: as `create_or_update`, but changes are sent as
        merge patches, the status (for kinds with a status subresource) separately through
        `/status`: UPDATED (object only), UPDATED_STATUS (both), UPDATED_STATUS_ONLY. A patch
        holding a list carries the optimistic lock, since a merge patch replaces lists
        whole."""
        current, before = await self._mutate_stored(obj, mutate)
        if before is None:
            return current, OperationResult.CREATED
        info, model = await self._resolve_object(current)
        name, namespace, _ = _metadata(current)
        after = _snapshot(current)
        status_before = before.pop("status", None) if info.has_status else None
        status_after = after.pop("status", None) if info.has_status else None
        result = OperationResult.UNCHANGED
        for patch, subresource in (
            (merge_diff(before, after), None),
            (merge_diff({"status": status_before}, {"status": status_after}), "status"),
        ):
            if not patch:
                continue
            locked = _metadata(current)[2] if diff_contains_list(patch) else None
            options: PatchOptions = {"namespace": namespace, "subresource": subresource}
            if locked is not None:
                options["resource_version"] = locked
            current = await self._patch(info, model, name, patch, options)
            if subresource is None:
                result = OperationResult.UPDATED
            elif result is OperationResult.UPDATED:
                result = OperationResult.UPDATED_STATUS
            else:
                result = OperationResult.UPDATED_STATUS_ONLY
        return current, result

    async def _mutate_stored(
        self, obj: KubeObject | JSON, mutate: Callable[[Any], object]
    ) -> tuple[Any, JSON | None]:
        """Run `mutate` on the stored copy of `obj` and return it with its state before the
        mutation; when there is none, run `mutate` on `obj`, create it, and return
        (created, None)."""
        info, model = await self._resolve_object(obj)
        name, namespace, _ = _metadata(obj)
        try:
            current = await self._get(info, model, name, namespace)
        except NotFound:
            await _run_mutation(mutate, obj, name, namespace)
            return await self.create(obj), None
        before = _snapshot(current)
        await _run_mutation(mutate, current, name, namespace)
        return current, before


class ListOptions(TypedDict, total=False):
    """Options of `Client.list` and `Client.pages`.

    namespace: one namespace (default: all, or the cluster scope); label_selector and
    field_selector: a selector object or its string form (a label mapping means equality on
    each); limit: page size; resource_version: the list's resourceVersion semantics ("0": any
    cached version); continue_token: resume a paginated list where that page left off.
    """

    namespace: str | None
    label_selector: LabelSelectorLike | None
    field_selector: FieldSelectorLike | None
    limit: int | None
    resource_version: str | None
    continue_token: str | None


class WriteOptions(TypedDict, total=False):
    """dry_run: validate and answer without storing; field_manager: the managedFields owner."""

    dry_run: bool
    field_manager: str | None


class PatchOptions(WriteOptions, total=False):
    """namespace of the object; patch_type (default "merge"); subresource e.g. "status";
    resource_version: the optimistic lock."""

    namespace: str | None
    patch_type: PatchType
    subresource: str | None
    resource_version: str | None


def _list_query(options: ListOptions, default_limit: int | None) -> builtins.list[tuple[str, str]]:
    query: builtins.list[tuple[str, str]] = []
    label_selector = options.get("label_selector")
    if label_selector:
        query.append(("labelSelector", _selector_text(label_selector)))
    field_selector = options.get("field_selector")
    if field_selector:
        query.append(("fieldSelector", str(field_selector)))
    limit = options.get("limit", default_limit)
    if limit:
        query.append(("limit", str(limit)))
    return query


def _decode_list(
    body: bytes, info: ResourceInfo, model: type[KubeObject] | None
) -> ObjectList[Any]:
    """A list answer's page; items get the apiVersion and kind that lists leave out."""
    decoded = orjson.loads(body)
    metadata = decoded.get("metadata") or {}
    items: builtins.list[JSON] = decoded.get("items") or []
    for item in items:
        item.setdefault("apiVersion", info.gvk.api_version)
        item.setdefault("kind", info.kind)
    return ObjectList(
        items=[model.model_validate(item) for item in items] if model is not None else items,
        resource_version=str(metadata.get("resourceVersion", "")),
        continue_token=metadata.get("continue") or None,
        remaining_item_count=metadata.get("remainingItemCount"),
    )


def _message(method: str, target: str, headers: bytes, data: bytes | None) -> bytes:
    """An HTTP/1.1 request: request line, header lines, Content-Length and body."""
    start = f"{method} {target} HTTP/1.1\r\n".encode()
    if data is None:
        if method in _BODY_METHODS:
            return b"%s%sContent-Length: 0\r\n\r\n" % (start, headers)
        return b"%s%s\r\n" % (start, headers)
    return b"%s%sContent-Length: %d\r\n\r\n%s" % (start, headers, len(data), data)


def _bearer_token(configuration: Configuration) -> str | None:
    """`Configuration.get_api_key_with_prefix("BearerToken")` without a refresh hook, but
    without a coroutine per request."""
    key: str | None = configuration.api_key.get("BearerToken")
    if not key:
        return None
    prefix = configuration.api_key_prefix.get("BearerToken")
    return f"{prefix} {key}" if prefix else key


def _retryable_read(error: BaseException) -> bool:
    if isinstance(error, ApiError):
        return error.status == 429 or error.status >= 500
    return isinstance(error, _CONNECTION_ERRORS)


def _retryable_write(error: BaseException) -> bool:
    return (
        isinstance(error, ApiError) and error.status in (429, 503) and error.retry_after is not None
    )


def _snapshot(obj: KubeObject | JSON) -> JSON:
    """A deep copy of the object's wire form."""
    if isinstance(obj, KubeObject):
        return obj.to_dict()
    copied: JSON = orjson.loads(orjson.dumps(obj))
    return copied


async def _run_mutation(
    mutate: Callable[[Any], object], obj: KubeObject | JSON, name: str, namespace: str | None
) -> None:
    result = mutate(obj)
    if inspect.isawaitable(result):
        await result
    if _metadata(obj)[:2] != (name, namespace):
        raise ValueError("the mutate function must not change the name or namespace")
