"""Each response leaves in one write to its socket (`definewtf.http_writes`), intact.

uvicorn serves a small Litestar app on uvloop, as `definewtf serve` does, with the protocol
`definewtf serve` runs; the test counts the writes that reach the socket's transport and
reads the answers off a real connection.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import uvicorn
import uvloop
from litestar import Litestar, get
from litestar.response import Stream

from definewtf.http_writes import FLUSH_AT, CoalescingHttpToolsProtocol, CoalescingTransport
from definewtf.supervisor import UVICORN_OPTIONS

#: A streamed body well past `FLUSH_AT`, in small chunks.
CHUNK = b"x" * 1000
CHUNKS = 3 * FLUSH_AT // len(CHUNK)


class _CountedSocket:
    """The socket's transport, counting the writes that reach it."""

    def __init__(self, transport: asyncio.Transport, writes: list[int]) -> None:
        self._transport = transport
        self._writes = writes

    def write(self, data: bytes) -> None:
        self._writes.append(len(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _counted(protocol: type[Any], writes: list[int]) -> type[Any]:
    class Counted(protocol):  # type: ignore[misc,valid-type]
        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(_CountedSocket(transport, writes))

    return Counted


@get("/small", sync_to_thread=False)
def small() -> dict[str, str]:
    return {"hello": "world"}


@get("/streamed", sync_to_thread=False)
def streamed() -> Stream:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(CHUNKS):
            yield CHUNK

    return Stream(chunks(), media_type="application/octet-stream")


def _serve(protocol: type[Any], client: Callable[[int], Awaitable[None]]) -> None:
    """Serve the app with `protocol` on uvloop, run `client(port)` against it, stop."""

    async def main() -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()  # connections wait in the backlog until uvicorn accepts them
        app = Litestar([small, streamed])
        config = uvicorn.Config(app, http=protocol, loop="none", lifespan="off", log_level="error")
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            await asyncio.wait_for(client(sock.getsockname()[1]), timeout=30)
        finally:
            server.should_exit = True
            await serving

    uvloop.run(main())


async def _response(reader: asyncio.StreamReader) -> tuple[bytes, dict[bytes, bytes], bytes]:
    """(status line, headers, body) of one response, by content-length or chunked."""
    head = await reader.readuntil(b"\r\n\r\n")
    status, *lines = head[:-4].split(b"\r\n")
    headers = dict(line.lower().split(b": ", 1) for line in lines)
    if b"content-length" in headers:
        return status, headers, await reader.readexactly(int(headers[b"content-length"]))
    body = b""
    while size := int((await reader.readuntil(b"\r\n"))[:-2], 16):
        body += await reader.readexactly(size)
        await reader.readexactly(2)
    await reader.readexactly(2)
    return status, headers, body


def test_definewtf_serve_runs_the_coalescing_protocol() -> None:
    assert UVICORN_OPTIONS["http"] == "definewtf.http_writes:CoalescingHttpToolsProtocol"


@pytest.mark.parametrize("requests", [1, 3])
def test_a_response_is_one_write_to_its_socket(requests: int) -> None:
    writes: list[int] = []

    async def client(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(requests):  # one keep-alive connection, one request after the other
            writer.write(b"GET /small HTTP/1.1\r\nhost: test\r\n\r\n")
            status, _, body = await _response(reader)
            assert status == b"HTTP/1.1 200 OK"
            assert body == b'{"hello":"world"}'
        writer.close()

    _serve(_counted(CoalescingHttpToolsProtocol, writes), client)
    # uvicorn's own protocol writes the head and the body apart: two per response.
    assert len(writes) == requests


def test_a_long_streamed_body_goes_out_whole_without_waiting_for_its_end() -> None:
    writes: list[int] = []

    async def client(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /streamed HTTP/1.1\r\nhost: test\r\n\r\n")
        status, _, body = await _response(reader)
        assert status == b"HTTP/1.1 200 OK"
        assert body == CHUNK * CHUNKS
        writer.close()

    _serve(_counted(CoalescingHttpToolsProtocol, writes), client)
    # Nothing waits past FLUSH_AT (plus the chunk that crossed it, and its framing).
    assert max(writes) < FLUSH_AT + 2 * len(CHUNK)


def test_an_answer_before_closing_reaches_the_client() -> None:
    """uvicorn answers a request it cannot parse with 400 and closes the connection: the
    answer is written just before the close, and must not be lost with it."""

    async def client(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        status, _, _ = await _response(reader)
        assert status.startswith(b"HTTP/1.1 400")
        assert await reader.read() == b""  # then the connection is closed
        writer.close()

    _serve(CoalescingHttpToolsProtocol, client)


def test_what_was_written_for_a_client_gone_before_the_end_of_the_turn_is_dropped() -> None:
    """The client disconnects in the turn the answer is written: by the end of the turn
    uvloop has closed the handle, and refuses writes to it. The pending bytes must not reach
    it as an error in the loop."""
    errors: list[dict[str, Any]] = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, context: errors.append(context))
        accepted: list[asyncio.StreamWriter] = []
        server = await asyncio.start_server(lambda _, w: accepted.append(w), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, _ = await asyncio.get_running_loop().create_connection(
            asyncio.Protocol, "127.0.0.1", port
        )
        coalescing = CoalescingTransport(transport, asyncio.get_running_loop())
        # The transport closes (uvloop saw the client go) before uvicorn is told
        # (connection_lost comes in a later turn), and an answer is written meanwhile.
        transport.abort()
        coalescing.write(b"an answer nobody will read")
        for _ in range(3):
            await asyncio.sleep(0)
        coalescing.close()  # uvicorn closes the transport of a lost connection too
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()

    uvloop.run(main())
    assert errors == []
