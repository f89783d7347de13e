"""A lean HTTP/1.1 transport for the API client's request/response calls.

`Transport` sends one request and returns the whole answer over a pool of keep-alive
connections to one server (TLS or plain TCP). Per request it costs well under half of what
aiohttp does: no URL, request, response or parser objects per request, and sockets driven
straight off the event loop's selector, so a TLS record is encrypted or decrypted by the ssl
module in one call instead of going through asyncio's SSL protocol layer. It speaks what the
API server needs: `Content-Length`, chunked and read-until-close bodies, gzip and deflate
content encodings (advertised as aiohttp does), 1xx answers skipped, `Connection: close`
honoured. It needs a selector event loop (asyncio's default on Unix, or uvloop).

Failures are aiohttp's exceptions, so callers handle both transports alike:
`aiohttp.ClientOSError` when connecting (or the TLS handshake) fails,
`aiohttp.ServerDisconnectedError` when the connection closes before the answer is complete,
`aiohttp.ClientPayloadError` for a malformed answer, `TimeoutError` when the whole exchange
outlasts the timeout. A request is sent once: a connection found closed is never written to,
and nothing is resent.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import zlib
from collections.abc import Callable
from typing import NamedTuple

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["ACCEPT_ENCODING", "HttpResponse", "Transport"]

ACCEPT_ENCODING = "gzip, deflate"
_NO_BODY_STATUS = frozenset({204, 304})
_READ_SIZE = 1 << 18
_RECORDS_PER_TURN = 64
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class HttpResponse(NamedTuple):
    """A complete answer: status, headers and the (decoded) body."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


class _Socket:
    """A connected non-blocking socket (TLS or plain) driven straight off the event loop's
    selector, feeding `connection`: TLS records are decrypted and encrypted by the ssl module
    in one call each, without asyncio's SSL protocol layer (which costs as much again)."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket, connection: _Connection
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._tls = isinstance(sock, ssl.SSLSocket)
        self._connection = connection
        self._unsent = b""
        self._closed = False
        connection.transport = self
        loop.add_reader(self._fd, self._readable)

    def write(self, data: bytes) -> None:
        if self._closed:
            return
        if self._unsent:
            self._unsent += data
            return
        sent = self._send(data)
        if sent < len(data) and not self._closed:
            self._unsent = data[sent:]
            self._loop.add_writer(self._fd, self._writable)

    def close(self) -> None:
        self._lose(None)

    abort = close  # nothing is left to flush once a caller gives a connection up

    def _writable(self) -> None:
        self._unsent = self._unsent[self._send(self._unsent) :]
        if not self._unsent and not self._closed:
            self._loop.remove_writer(self._fd)

    def _send(self, data: bytes) -> int:
        """Bytes of `data` the socket took (0 when full, or when the connection was lost)."""
        try:
            return self._sock.send(data)
        except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            return 0
        except OSError as error:
            self._lose(error)
            return 0

    def _readable(self) -> None:
        connection = self._connection
        lost: Exception | None = None
        ended = False
        try:
            # TLS: the whole records there are, one recv each (bounded, to take turns with the
            # loop's other work; the selector calls again while the socket stays readable),
            # until the awaited answer is complete: no further recv only to find nothing
            for _ in range(_RECORDS_PER_TURN if self._tls else 1):
                data = self._sock.recv(_READ_SIZE)
                if not data:
                    ended = True
                    break
                connection.data_received(data)
                if not connection.awaiting:
                    break
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass
        except ssl.SSLZeroReturnError:
            ended = True
        except OSError as error:
            lost = error
        if ended or lost is not None:
            self._lose(lost)

    def _lose(self, error: Exception | None) -> None:
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._fd)
        self._loop.remove_writer(self._fd)
        self._sock.close()
        self._connection.connection_lost(error)


class _Connection:
    """One keep-alive connection; `exchange` sends a request and resolves with its answer."""

    def __init__(self) -> None:
        self.transport: _Socket | None = None
        self.idle_since = 0.0
        self.reusable = True
        self._buffer = bytearray()
        self._waiter: asyncio.Future[HttpResponse] | None = None
        # One timer per connection, kept armed across exchanges (not one per exchange).
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0
        self._head_only = False
        self._status = 0
        self._headers: CIMultiDictProxy[str] | None = None
        self._remaining = -1  # body bytes still expected; -1: to the end of the connection
        self._chunked = False
        self._body: list[bytes] = []

    # -- from the socket --

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._waiter is None:
            self.reusable = False  # bytes nobody asked for: the framing is lost
            return
        try:
            response = self._parse()
        except aiohttp.ClientPayloadError as error:
            self._fail(error)
        except Exception as error:  # a framing error: the connection is unusable
            self._fail(aiohttp.ClientPayloadError(f"malformed answer: {error!r}"))
        else:
            if response is not None:
                self._settle(response)

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        self.transport = None
        self._disarm()
        if self._waiter is None:
            return
        if self._headers is not None and self._remaining == -1 and not self._chunked:
            try:  # a body delimited by the end of the connection
                self._settle(self._finish())
            except aiohttp.ClientPayloadError as error:
                self._fail(error)
            return
        disconnected = aiohttp.ServerDisconnectedError()
        disconnected.__cause__ = exc
        self._fail(disconnected)

    # -- exchange --

    @property
    def awaiting(self) -> bool:
        """Whether an answer is awaited (an exchange is in progress)."""
        return self._waiter is not None

    @property
    def open(self) -> bool:
        return self.transport is not None and self.reusable

    def exchange(
        self, request: bytes, head_only: bool, deadline: float
    ) -> asyncio.Future[HttpResponse]:
        """Send `request`; the future fails with TimeoutError (and the connection is
        aborted) if the answer is not complete at `deadline` (the loop's time)."""
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        self._deadline = deadline
        timer = self._timer
        if timer is None or timer.when() > deadline:
            self._disarm()
            self._timer = loop.call_at(deadline, self._check_deadline)
        self._head_only = head_only
        self._headers = None
        self.transport.write(request)
        return self._waiter

    def _check_deadline(self) -> None:
        """The timer: fail the exchange in progress if its deadline has come (the timer was
        armed for it or for a later one), else wait for that deadline."""
        timer, self._timer = self._timer, None
        if self._waiter is None or timer is None:
            return
        if self._deadline <= timer.when():
            self._fail(TimeoutError("the API request timed out"))
            self.abort()
        else:
            self._timer = asyncio.get_running_loop().call_at(self._deadline, self._check_deadline)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.abort()

    def _settle(self, response: HttpResponse) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(response)

    def _fail(self, error: Exception) -> None:
        self.reusable = False
        waiter, self._waiter = self._waiter, None
        self._disarm()
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    # -- parsing --

    def _parse(self) -> HttpResponse | None:
        """The answer, once the buffer holds all of it (None: not yet)."""
        while self._headers is None:
            if not self._parse_head():
                return None
        if self._remaining >= 0 and not self._chunked:
            if len(self._buffer) < self._remaining:
                return None
            self._body.append(bytes(self._buffer[: self._remaining]))
            del self._buffer[: self._remaining]
            return self._finish()
        if self._chunked:
            return self._parse_chunks()
        self._body.append(bytes(self._buffer))  # the body runs until the connection closes
        self._buffer.clear()
        return None

    def _parse_head(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        lines = self._buffer[:end].decode("utf-8", "replace").split("\r\n")
        del self._buffer[: end + 4]
        version, status, *_ = lines[0].split(" ", 2)
        if not version.startswith("HTTP/1."):
            raise ValueError(f"not an HTTP/1 answer: {lines[0][:40]!r}")
        self._status = int(status)
        if 100 <= self._status < 200:
            return True  # an interim answer: the real one follows
        fields = []
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon:
                raise ValueError(f"bad header line {line[:40]!r}")
            fields.append((name.strip(), value.strip()))
        headers = CIMultiDict(fields)
        self._headers = CIMultiDictProxy(headers)
        self._body = []
        connection = headers.get("Connection", "").lower()
        if connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive"):
            self.reusable = False
        no_body = self._head_only or self._status in _NO_BODY_STATUS
        self._chunked = not no_body and "chunked" in headers.get("Transfer-Encoding", "").lower()
        length = headers.get("Content-Length")
        if no_body or self._chunked:
            self._remaining = 0
        elif length is not None:
            self._remaining = int(length)
        else:
            self._remaining = -1
            self.reusable = False
        return True

    def _parse_chunks(self) -> HttpResponse | None:
        buffer = self._buffer
        while True:
            if self._remaining > 0:  # inside a chunk (with its CRLF)
                if len(buffer) < self._remaining:
                    return None
                self._body.append(bytes(buffer[: self._remaining - 2]))
                del buffer[: self._remaining]
                self._remaining = 0
            end = buffer.find(b"\r\n")
            if end < 0:
                return None
            size = int(bytes(buffer[:end]).split(b";", 1)[0], 16)
            if size:
                del buffer[: end + 2]
                self._remaining = size + 2
                continue
            trailer_end = buffer.find(b"\r\n\r\n", end)  # == end when there are no trailers
            if trailer_end < 0:
                return None
            del buffer[: trailer_end + 4]
            self._chunked = False
            return self._finish()

    def _finish(self) -> HttpResponse:
        assert self._headers is not None
        body = b"".join(self._body)
        self._body = []
        headers, self._headers = self._headers, None
        encoding = headers.get("Content-Encoding", "").lower()
        wbits = _WBITS.get(encoding)
        if wbits is not None and body:
            try:
                body = zlib.decompressobj(wbits).decompress(body)
            except zlib.error as error:
                raise aiohttp.ClientPayloadError(f"cannot decode the {encoding} body") from error
        if self._buffer:
            self.reusable = False  # more than the answer arrived
        return HttpResponse(self._status, headers, body)


class Transport:
    """Keep-alive connections to one server, at most `limit` at a time (further requests
    wait for one to be free); idle connections are closed after `keepalive` seconds.
    `ssl_context` None means plain TCP; `server_hostname` overrides the name the certificate
    must carry."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None,
        server_hostname: str | None = None,
        limit: int = 100,
        keepalive: float = 15.0,
        timeout: float = 60.0,
    ) -> None:
        self._host = host
        self._timeout = timeout
        self._port = port
        self._ssl = ssl_context
        self._server_hostname = server_hostname
        self._keepalive = keepalive
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(limit)
        self._closed = False

    async def request(self, request: bytes, *, head_only: bool) -> HttpResponse:
        """Send `request` (the whole HTTP/1.1 message) and return the answer (see the module
        docstring for failures), all within the transport's `timeout` (seconds, from asking
        for a connection to the last byte). `head_only`: the answer has no body (HEAD)."""
        if self._closed:
            raise RuntimeError("the transport is closed")
        loop = asyncio.get_running_loop()
        now = loop.time()
        deadline = now + self._timeout
        connection: _Connection | None = None
        try:
            if self._slots.locked():  # all connections busy: wait for one, within the deadline
                async with asyncio.timeout_at(deadline):
                    await self._slots.acquire()
            else:
                await self._slots.acquire()
            try:
                connection = self._reuse(now)
                if connection is None:
                    async with asyncio.timeout_at(deadline):
                        connection = await self._connect(loop)
                response = await connection.exchange(request, head_only, deadline)
            finally:
                self._slots.release()
        except BaseException:
            if connection is not None:
                connection.abort()  # the exchange is in an unknown state
            raise
        if connection.open and not self._closed:
            connection.idle_since = loop.time()
            self._idle.append(connection)
        else:
            connection.close()
        return response

    def _reuse(self, now: float) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if connection.open and now - connection.idle_since < self._keepalive:
                return connection
            connection.close()
        return None

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        try:
            sock = await self._open(loop)
        except OSError as error:
            raise aiohttp.ClientOSError(error.errno, str(error)) from error
        connection = _Connection()
        _Socket(loop, sock, connection)
        return connection

    async def _open(self, loop: asyncio.AbstractEventLoop) -> socket.socket:
        """A connected socket (after the TLS handshake), trying each address of the host."""
        addresses = await loop.getaddrinfo(self._host, self._port, type=socket.SOCK_STREAM)
        failure: OSError = OSError(f"no address for {self._host}")
        for family, kind, proto, _, address in addresses:
            sock = socket.socket(family, kind, proto)
            try:
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                await loop.sock_connect(sock, address)
                if self._ssl is None:
                    return sock
                sock = self._ssl.wrap_socket(
                    sock,
                    server_hostname=self._server_hostname or self._host,
                    do_handshake_on_connect=False,
                )
                await _handshake(loop, sock)
                return sock
            except OSError as error:
                sock.close()
                failure = error
            except BaseException:
                sock.close()
                raise
        raise failure

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


async def _handshake(loop: asyncio.AbstractEventLoop, sock: ssl.SSLSocket) -> None:
    """The TLS handshake of a non-blocking socket, waiting on the selector as it needs."""
    fd = sock.fileno()
    while True:
        try:
            sock.do_handshake()
            return
        except ssl.SSLWantReadError:
            await _ready(fd, loop.add_reader, loop.remove_reader)
        except ssl.SSLWantWriteError:
            await _ready(fd, loop.add_writer, loop.remove_writer)


async def _ready(fd: int, watch: Callable[..., object], unwatch: Callable[[int], object]) -> None:
    """Wait until `fd` is ready (readable or writable, per `watch`)."""
    waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def wake() -> None:
        if not waiter.done():
            waiter.set_result(None)

    watch(fd, wake)
    try:
        await waiter
    finally:
        unwatch(fd)
