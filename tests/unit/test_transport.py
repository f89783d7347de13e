"""The lean HTTP/1.1 transport against a scripted raw TCP server: framing (Content-Length,
chunked, until close, HEAD), content encodings, interim answers, keep-alive reuse, the
connection limit, and failures as aiohttp's exceptions."""

from __future__ import annotations

import asyncio
import gzip
import ssl
from collections import deque
from collections.abc import AsyncIterator

import aiohttp
import pytest

from framework.envtest.apiserver.tls import serving_cert
from framework.transport import Transport

GET = b"GET /x HTTP/1.1\r\nHost: test\r\n\r\n"


class RawServer:
    """Answers each request (read up to its blank line) with the next scripted bytes, sent
    in pieces of `piece` bytes, closing the connection after those scripted with `close`;
    counts connections and requests."""

    def __init__(self) -> None:
        self.script: deque[tuple[bytes, bool]] = deque()
        self.connections = 0
        self.requests: list[bytes] = []
        self.piece = 1 << 20
        self.port = 0
        self.silent = False

    def then(self, *answers: bytes, close: bool = False) -> None:
        self.script.extend((answer, close) for answer in answers)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                request = await reader.readuntil(b"\r\n\r\n")
                self.requests.append(request)
                if self.silent:
                    await asyncio.sleep(3600)
                answer, close = self.script.popleft()
                for start in range(0, len(answer), self.piece):
                    writer.write(answer[start : start + self.piece])
                    await writer.drain()
                if close:
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[RawServer]:
    raw = RawServer()
    listener = await asyncio.start_server(raw.handle, "127.0.0.1", 0)
    raw.port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield raw
        listener.close()


def transport(server: RawServer, *, limit: int = 100, timeout: float = 60.0) -> Transport:
    return Transport("127.0.0.1", server.port, ssl_context=None, limit=limit, timeout=timeout)


def answer(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    lines = [f"HTTP/1.1 {status}", *headers]
    if not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def test_answers_are_read_and_the_connection_kept_alive(server: RawServer) -> None:
    server.then(answer(b'{"a":1}', "X-Thing: one", "X-Thing: two"), answer(b"{}"))
    server.piece = 3  # the answer arrives a few bytes at a time
    lean = transport(server)
    first = await lean.request(GET, head_only=False)
    second = await lean.request(GET, head_only=False)
    await lean.close()
    assert (first.status, first.body, first.headers.getall("x-thing")) == (
        200,
        b'{"a":1}',
        ["one", "two"],
    )
    assert second.body == b"{}"
    assert server.connections == 1
    assert server.requests == [GET, GET]


async def test_chunked_bodies_with_extensions_and_trailers(server: RawServer) -> None:
    body = b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n"
    chunked = "Transfer-Encoding: chunked"
    server.then(answer(body, chunked), answer(b"3\r\nabc\r\n0\r\n\r\n", chunked))
    server.piece = 4
    lean = transport(server)
    assert (await lean.request(GET, head_only=False)).body == b"hello, world"
    assert (await lean.request(GET, head_only=False)).body == b"abc"
    await lean.close()
    assert server.connections == 1


async def test_gzip_bodies_are_decoded(server: RawServer) -> None:
    server.then(answer(gzip.compress(b'{"big":true}'), "Content-Encoding: gzip"))
    lean = transport(server)
    assert (await lean.request(GET, head_only=False)).body == b'{"big":true}'
    await lean.close()


async def test_interim_answers_are_skipped_and_head_has_no_body(server: RawServer) -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    server.then(interim + answer(b"done"), b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n")
    lean = transport(server)
    assert (await lean.request(GET, head_only=False)).body == b"done"
    head = await lean.request(GET, head_only=True)
    await lean.close()
    assert (head.status, head.body) == (200, b"")
    assert server.connections == 1


async def test_connection_close_and_bodies_until_close_are_not_reused(server: RawServer) -> None:
    server.then(answer(b"one", "Connection: close"))
    server.then(b"HTTP/1.1 200 OK\r\n\r\nuntil the end", close=True)
    server.then(answer(b"three"))
    lean = transport(server)
    first = await lean.request(GET, head_only=False)
    second = await lean.request(GET, head_only=False)
    third = await lean.request(GET, head_only=False)
    await lean.close()
    assert [first.body, second.body, third.body] == [b"one", b"until the end", b"three"]
    assert server.connections == 3


async def test_a_connection_closed_before_the_answer_is_a_client_error(server: RawServer) -> None:
    server.then(b"", close=True)
    server.then(answer(b"after"))
    lean = transport(server)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await lean.request(GET, head_only=False)
    assert (await lean.request(GET, head_only=False)).body == b"after"
    await lean.close()
    assert len(server.requests) == 2  # nothing was sent twice


async def test_a_malformed_answer_is_a_payload_error(server: RawServer) -> None:
    server.then(b"SMTP ready\r\n\r\n")
    lean = transport(server)
    with pytest.raises(aiohttp.ClientPayloadError):
        await lean.request(GET, head_only=False)
    await lean.close()


async def test_the_timeout_bounds_the_exchange(server: RawServer) -> None:
    server.silent = True
    lean = transport(server, timeout=0.2)
    with pytest.raises(TimeoutError):
        await lean.request(GET, head_only=False)
    await lean.close()


async def test_each_exchange_on_a_kept_alive_connection_has_its_own_deadline(
    server: RawServer,
) -> None:
    server.then(answer(b"first"), answer(b"second"))
    lean = transport(server, timeout=0.2)
    for body in (b"first", b"second"):
        assert (await lean.request(GET, head_only=False)).body == body
    server.silent = True
    stalled = asyncio.create_task(lean.request(GET, head_only=False))
    await asyncio.wait([stalled], timeout=10)  # the transport's own timeout ends it first
    assert stalled.done()
    with pytest.raises(TimeoutError):
        stalled.result()
    assert server.connections == 1
    await lean.close()


async def test_connecting_to_nothing_is_a_client_os_error(server: RawServer) -> None:
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    listener.close()
    await listener.wait_closed()
    lean = Transport("127.0.0.1", port, ssl_context=None)
    with pytest.raises(aiohttp.ClientOSError):
        await lean.request(GET, head_only=False)
    await lean.close()


async def test_the_limit_bounds_the_connections(server: RawServer) -> None:
    server.then(*(answer(f"{index}".encode()) for index in range(6)))
    lean = transport(server, limit=2)
    bodies = await asyncio.gather(*(lean.request(GET, head_only=False) for _ in range(6)))
    await lean.close()
    assert sorted(response.body for response in bodies) == [b"0", b"1", b"2", b"3", b"4", b"5"]
    assert server.connections <= 2


async def test_tls_answers_of_many_records_and_an_untrusted_server() -> None:
    cert = serving_cert()
    server = RawServer()
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=cert.server_context())
    port = listener.sockets[0].getsockname()[1]
    big = b"".join(b"%x\r\n%s\r\n" % (4000, bytes([65 + i % 26]) * 4000) for i in range(300))
    server.then(answer(big + b"0\r\n\r\n", "Transfer-Encoding: chunked"), answer(b"small"))
    server.piece = 70_000
    async with listener:
        trusted = Transport("127.0.0.1", port, ssl_context=cert.client_context())
        first = await trusted.request(GET, head_only=False)
        second = await trusted.request(GET, head_only=False)
        await trusted.close()
        untrusted = Transport("127.0.0.1", port, ssl_context=ssl.create_default_context())
        with pytest.raises(aiohttp.ClientOSError):
            await untrusted.request(GET, head_only=False)
        await untrusted.close()
    assert first.body == b"".join(bytes([65 + i % 26]) * 4000 for i in range(300))
    assert second.body == b"small"
    assert server.connections == 1  # reused; the untrusted client never got past the handshake
