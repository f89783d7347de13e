"""Bearer-token authentication: every request must carry the token written in the kubeconfig.

Compared in constant time (hmac.compare_digest); anything else is answered 401 Unauthorized
with a metav1 Status body before any handler runs.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from framework.envtest.apiserver import errors

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def token_auth(token: str) -> Middleware:
    """An aiohttp middleware that admits only `Authorization: Bearer <token>`."""
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            error = errors.unauthorized()
            return web.Response(body=error.body(), status=401, content_type="application/json")
        return await handler(request)

    return authenticate
