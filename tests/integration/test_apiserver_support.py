"""Shared helpers for the API server tests: a sample CRD and objects, a raw HTTP client.

(A test_ module so that it sits with the tests it serves; it holds no tests itself.)"""

from __future__ import annotations

import contextlib
import copy
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from framework.envtest import Environment

KUBECTL = Path(sys.executable).parent / "kubectl"

WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {
            "plural": "widgets",
            "singular": "widget",
            "kind": "Widget",
            "shortNames": ["wd"],
            "categories": ["all"],
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                    {"name": "Color", "type": "string", "jsonPath": ".spec.color", "priority": 1},
                    {
                        "name": "Ready",
                        "type": "string",
                        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
                    },
                ],
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "properties": {
                                    "size": {"type": "integer", "minimum": 0, "maximum": 10},
                                    "color": {
                                        "type": "string",
                                        "enum": ["red", "blue"],
                                        "default": "red",
                                    },
                                    "name": {"type": "string", "pattern": "^[a-z]+$"},
                                    "extra": {
                                        "type": "object",
                                        "x-kubernetes-preserve-unknown-fields": True,
                                        "properties": {
                                            "inner": {
                                                "type": "object",
                                                "properties": {"kept": {"type": "string"}},
                                            }
                                        },
                                    },
                                    "port": {"x-kubernetes-int-or-string": True},
                                    "when": {"type": "string", "format": "date-time"},
                                    "maybe": {"type": "string", "nullable": True},
                                    "tags": {
                                        "type": "array",
                                        "maxItems": 2,
                                        "items": {"type": "string", "minLength": 2},
                                    },
                                    "template": {
                                        "type": "object",
                                        "x-kubernetes-embedded-resource": True,
                                        "x-kubernetes-preserve-unknown-fields": True,
                                    },
                                },
                            },
                            "status": {
                                "type": "object",
                                "properties": {
                                    "phase": {"type": "string"},
                                    "conditions": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "type": {"type": "string"},
                                                "status": {"type": "string"},
                                            },
                                        },
                                    },
                                },
                            },
                        },
                    }
                },
            }
        ],
    },
}

WIDGETS = "/apis/example.com/v1/namespaces/default/widgets"


def widget_crd() -> dict[str, Any]:
    return copy.deepcopy(WIDGET_CRD)


def widget(name: str, size: int = 1, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"size": size, **spec},
    }


@contextlib.asynccontextmanager
async def open_http(env: Environment) -> AsyncIterator[Http]:
    """A raw client session trusting the env's certificate."""
    cert = env.server.cert
    assert cert is not None
    connector = aiohttp.TCPConnector(ssl=cert.client_context())
    async with aiohttp.ClientSession(connector=connector) as session:
        yield Http(session, env)


@dataclass
class Reply:
    status: int
    body: Any
    headers: Any


class Http:
    """A raw client for the server: JSON in, (status, decoded JSON, headers) out."""

    def __init__(self, session: aiohttp.ClientSession, env: Environment) -> None:
        self.session = session
        self.env = env

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        params: dict[str, str] | None = None,
    ) -> Reply:
        data = raw if raw is not None else (None if body is None else orjson.dumps(body))
        all_headers = {"Authorization": f"Bearer {self.env.token}", **(headers or {})}
        if data is not None:
            all_headers["Content-Type"] = content_type
        async with self.session.request(
            method, self.env.server_url + path, data=data, headers=all_headers, params=params
        ) as response:
            text = await response.read()
            try:
                decoded = orjson.loads(text) if text else None
            except orjson.JSONDecodeError:
                decoded = text.decode()
            return Reply(response.status, decoded, response.headers)

    async def get(self, path: str, **kw: Any) -> Reply:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, body: Any, **kw: Any) -> Reply:
        return await self.request("POST", path, body, **kw)

    async def put(self, path: str, body: Any, **kw: Any) -> Reply:
        return await self.request("PUT", path, body, **kw)

    async def patch(
        self, path: str, body: Any, content_type: str = "application/merge-patch+json", **kw: Any
    ) -> Reply:
        return await self.request("PATCH", path, body, content_type=content_type, **kw)

    async def delete(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return await self.request("DELETE", path, body, **kw)
