"""Each HTTP response leaves in one send.

uvicorn's httptools protocol writes a response's head and its body with two
`transport.write` calls, and uvloop sends each at once when its buffer is empty: two
`send` system calls and two TCP segments per response, each of which the client's kernel
and event loop also wake for. py-spy put those two writes at 11% of a worker's samples
during substring searches (they are the system calls themselves, not Python).

`CoalescingHttpToolsProtocol` is uvicorn's protocol on a transport that gathers the writes
of one event loop turn and passes them on together from a callback queued behind them, so
before the loop next waits for the network. The head and body of a response are written in
the same turn (the ASGI app awaits nothing between them that suspends), so they go out as
one. A long streamed body is not held back: the gathered bytes go out as soon as they pass
`FLUSH_AT`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: Bytes gathered in one turn beyond which they go out at once (a streamed export's chunks).
FLUSH_AT = 64 * 1024


class CoalescingTransport(asyncio.Transport):
    """`transport`, with the writes of one loop turn passed on as one at its end (or once
    `FLUSH_AT` bytes are waiting). Everything else is the transport's own."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._flush_scheduled = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        # A copy of a mutable buffer: the caller may reuse it once `write` returns.
        self._pending.append(data if isinstance(data, bytes) else bytes(data))
        self._pending_size += len(data)
        if self._pending_size >= FLUSH_AT:
            self.flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._scheduled_flush)

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def _scheduled_flush(self) -> None:
        self._flush_scheduled = False
        self.flush()

    def flush(self) -> None:
        """Pass what was written so far on to the transport, as one write. Nothing goes to a
        transport already closing: the client went away before the end of the turn (uvloop
        refuses a write to a closed handle, and uvicorn writes nothing once disconnected)."""
        if not self._pending:
            return
        pending = self._pending
        self._pending, self._pending_size = [], 0
        if self._transport.is_closing():
            return
        self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        # The answer written just before closing (an error, a response without keep-alive)
        # goes out first; the transport sends its buffer before it closes.
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending, self._pending_size = [], 0
        self._transport.abort()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def get_write_buffer_size(self) -> int:
        return self._pending_size + self._transport.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing through a `CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))
