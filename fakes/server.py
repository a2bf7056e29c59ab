"""Run an ASGI app on a real loopback port in a background thread (uvicorn), for the demo and tests; and the
lifespan that runs a fake's background work while its app runs."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette

Lifespan = Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]


def background_lifespan(work: Callable[[], Coroutine[Any, Any, None]] | None) -> Lifespan:
    """A lifespan that runs ``work()`` as a task while the app runs (nothing when ``work`` is None) and
    cancels it at shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(work()) if work is not None else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    return lifespan


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningServer:
    server: uvicorn.Server
    thread: threading.Thread
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _QuietConfig(uvicorn.Config):
    """uvicorn configures process-wide logging from its Config (and ``access_log=False`` silences
    the shared access logger); a fake started inside the hub must leave the hub's logging alone."""

    def configure_logging(self) -> None:
        return None


def serve_in_thread(app: Any, *, host: str = "127.0.0.1", port: int | None = None) -> RunningServer:
    """Start ``app`` and return once it accepts connections. ``port=None`` picks a free one."""
    port = port or free_port()
    config = _QuietConfig(app, host=host, port=port, access_log=False, lifespan="auto")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"fake-server-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"server on {host}:{port} did not start")
        time.sleep(0.01)
    return RunningServer(server, thread, host, port)
