"""The FHIR server of the fallback measurement: a loopback HTTP/1.1 server (asyncio, in a
thread of the benchmark process) that answers every search after a fixed delay with a
searchset serialised once, up front, and reads of the patient at once.

Why not werkzeug's development server: it builds each response in Python under the benchmark
process's GIL, so ten searches that end together leave it one after another. Measured with a
plain client (ten concurrent GETs from another process, nothing else): the slowest of them took
115–126 ms against it where each alone took 106 ms, before the service did any work. An EHR's
FHIR server answers concurrent searches in parallel; this one writes prepared bytes from an
event loop, so the measurement shows the service's cost, not the stub's. Connections are kept
alive (HTTP/1.1), as a FHIR server does.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Callable


class FhirStub:
    """`routes(path) -> (body bytes, delay seconds)`; serves on 127.0.0.1:`port` until stop()."""

    def __init__(self, port: int, routes: Callable[[str], tuple[bytes, float]]):
        self.port = port
        self.routes = routes
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: asyncio.base_events.Server | None = None

    def __enter__(self) -> "FhirStub":
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("FHIR stub did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", self.port))
        self._ready.set()
        self._loop.run_forever()
        self._server.close()
        tasks = asyncio.all_tasks(self._loop)
        for task in tasks:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for _ in range(1000):  # requests per connection, bounded
                head = await reader.readuntil(b"\r\n\r\n")
                target = head.split(b" ", 2)[1].decode("latin-1")
                body, delay = self.routes(target.split("?", 1)[0])
                if delay:
                    await asyncio.sleep(delay)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(body) + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, IndexError, asyncio.LimitOverrunError,
                asyncio.CancelledError):
            pass
        finally:
            writer.close()
