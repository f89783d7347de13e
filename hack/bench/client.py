"""Client CPU benchmark: microseconds of this process's CPU per GET and per merge PATCH.

Starts the embedded API server in its own process (`python -m framework.envtest`, so its CPU is
not counted), creates one custom object of about 2 KiB, then times, in the same run against the
same object, kubeloop's `Client` (plain dicts, and pydantic models) and a raw baseline: one
aiohttp session with `trust_env=False` sending prepared bytes and decoding with orjson. Rounds
alternate between the contenders and each figure is the median round. kubernetes-asyncio's
generated CustomObjectsApi (its default session, `trust_env=True`) is timed for reference.
Prints a table, the ratios to raw (target <= 2), then one JSON line with the same figures.

    .venv/bin/python hack/bench/client.py [--requests N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson
from benchlib import GROUP, NAMESPACE, PAYLOAD, api_server, crd, print_json_line
from kubernetes_asyncio.client import ApiClient, CustomObjectsApi

from framework.client import Client
from framework.models import KubeObject

NAME = "payload"


class Payload(KubeObject):
    __resource__ = PAYLOAD

    spec: dict[str, Any] = {}


def payload() -> dict[str, Any]:
    """A Payload whose JSON is about 2 KiB."""
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Payload",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": {"app": "bench"}},
        "spec": {f"field{i:02d}": f"value-{i:02d}-" + "x" * 40 for i in range(31)},
    }


def raw_session(client: Client) -> aiohttp.ClientSession:
    configuration = client.configuration
    context: ssl.SSLContext | bool = False
    if str(configuration.host).startswith("https"):
        context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context), trust_env=False)


async def per_request_us(operation: Callable[[], Awaitable[object]], requests: int) -> float:
    start = time.process_time()
    for _ in range(requests):
        await operation()
    return (time.process_time() - start) / requests * 1e6


async def bench(requests: int, rounds: int) -> dict[str, float]:
    async with (
        api_server([crd(PAYLOAD)]) as served,
        await Client.from_kubeconfig(served.kubeconfig) as client,
    ):
        await client.create(payload())
        return await measure(client, requests, rounds)


async def measure(client: Client, requests: int, rounds: int) -> dict[str, float]:
    host = str(client.configuration.host).rstrip("/")
    url = f"{host}/apis/{GROUP}/v1/namespaces/{NAMESPACE}/payloads/{NAME}"
    token = await client.configuration.get_api_key_with_prefix("BearerToken")
    headers = {"Accept": "application/json", "Authorization": token}
    patch_headers = {**headers, "Content-Type": "application/merge-patch+json"}
    patch = {"spec": {"field00": "patched"}}
    patch_bytes = orjson.dumps(patch)
    async with raw_session(client) as session, ApiClient(client.configuration) as api_client:

        async def raw_get() -> object:
            async with session.get(url, headers=headers) as response:
                return orjson.loads(await response.read())

        async def raw_patch() -> object:
            async with session.patch(url, headers=patch_headers, data=patch_bytes) as response:
                return orjson.loads(await response.read())

        generated = CustomObjectsApi(api_client)

        def generated_get() -> Awaitable[object]:
            return generated.get_namespaced_custom_object(GROUP, "v1", NAMESPACE, "payloads", NAME)

        def generated_patch() -> Awaitable[object]:
            return generated.patch_namespaced_custom_object(  # type: ignore[call-arg]
                GROUP,
                "v1",
                NAMESPACE,
                "payloads",
                NAME,
                patch,
                _content_type="application/merge-patch+json",
            )

        contenders: dict[str, Callable[[], Awaitable[object]]] = {
            "raw_get_us": raw_get,
            "client_get_us": lambda: client.get(PAYLOAD, NAME, namespace=NAMESPACE),
            "client_model_get_us": lambda: client.get(Payload, NAME, namespace=NAMESPACE),
            "raw_patch_us": raw_patch,
            "client_patch_us": lambda: client.patch(PAYLOAD, NAME, patch, namespace=NAMESPACE),
            "kubernetes_asyncio_get_us": generated_get,
            "kubernetes_asyncio_patch_us": generated_patch,
        }
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        for operation in contenders.values():
            await per_request_us(operation, max(requests // 10, 10))
        for _ in range(rounds):
            for name, operation in contenders.items():
                samples[name].append(await per_request_us(operation, requests))
    figures = {name: round(statistics.median(values), 1) for name, values in samples.items()}
    figures["get_ratio"] = round(figures["client_get_us"] / figures["raw_get_us"], 2)
    figures["model_get_ratio"] = round(figures["client_model_get_us"] / figures["raw_get_us"], 2)
    figures["patch_ratio"] = round(figures["client_patch_us"] / figures["raw_patch_us"], 2)
    figures["object_bytes"] = float(len(orjson.dumps(payload())))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    figures = asyncio.run(bench(args.requests, args.rounds))
    print(f"object: {figures['object_bytes']:.0f} bytes of JSON; CPU of this process per request")
    print(f"{'':10} {'raw':>8} {'client':>8} {'ratio':>6}")
    print(
        f"{'GET':10} {figures['raw_get_us']:8.1f} {figures['client_get_us']:8.1f} "
        f"{figures['get_ratio']:6.2f}"
    )
    print(
        f"{'GET model':10} {figures['raw_get_us']:8.1f} {figures['client_model_get_us']:8.1f} "
        f"{figures['model_get_ratio']:6.2f}"
    )
    print(
        f"{'PATCH':10} {figures['raw_patch_us']:8.1f} {figures['client_patch_us']:8.1f} "
        f"{figures['patch_ratio']:6.2f}"
    )
    print(
        f"kubernetes-asyncio's own session and models, for reference: GET "
        f"{figures['kubernetes_asyncio_get_us']:.1f}, PATCH "
        f"{figures['kubernetes_asyncio_patch_us']:.1f}"
    )
    print_json_line(figures)


if __name__ == "__main__":
    main()
