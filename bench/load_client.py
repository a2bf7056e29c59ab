"""A bounded loopback load client: N keep-alive HTTP/1.1 connections, each sending its next request
as soon as the previous answer is read, for a fixed time.

Written on asyncio streams rather than httpx: at a thousand requests a second the client shares the
two cores with the hub and PostgreSQL, and httpx's per-request cost (~0.3 ms of CPU) would be taken
from the server it measures. Only what the benchmark needs: Content-Length bodies, no chunking,
no redirects, no TLS.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# one request: method, path, JSON body (or None), extra headers
Request = tuple[str, str, Any, dict[str, str]]
# a client's next step: given the client's number and its step count, the requests to send in a row
# (a "write" may be two requests: a new person, then a consent naming them) with a hook that turns
# the previous answer's JSON into the next request
Step = Callable[[int, int], list[Callable[[Any], Request]]]


@dataclass
class LoadResult:
    clients: int
    seconds: float
    latencies: list[float] = field(default_factory=list)  # one per step (all its requests), seconds
    errors: dict[int, int] = field(default_factory=dict)  # status -> count of unexpected answers

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def quantile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        if len(self.latencies) == 1:
            return self.latencies[0]
        return statistics.quantiles(self.latencies, n=1000, method="inclusive")[round(q * 1000) - 1]


class _Connection:
    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port, self.token = host, port, token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def send(self, request: Request) -> tuple[int, Any]:
        assert self.reader is not None and self.writer is not None
        method, path, body, headers = request
        payload = b"" if body is None else json.dumps(body).encode()
        head = [
            f"{method} {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            f"Authorization: Bearer {self.token}",
            f"Content-Length: {len(payload)}",
        ]
        if body is not None:
            head.append("Content-Type: application/json")
        head.extend(f"{k}: {v}" for k, v in headers.items())
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
        status_line = await self.reader.readline()
        status = int(status_line.split(b" ", 2)[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        data = await self.reader.readexactly(length) if length else b""
        return status, (json.loads(data) if data else None)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _run(host: str, port: int, token: str, clients: int, seconds: float, step: Step) -> LoadResult:
    result = LoadResult(clients=clients, seconds=seconds)
    connections = [_Connection(host, port, token) for _ in range(clients)]
    await asyncio.gather(*(c.open() for c in connections))
    deadline = 0.0

    async def client(number: int, conn: _Connection) -> None:
        count = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            previous: Any = None
            for make in step(number, count):
                status, previous = await conn.send(make(previous))
                if status >= 400:
                    result.errors[status] = result.errors.get(status, 0) + 1
                    break
            else:
                result.latencies.append(time.perf_counter() - started)
            count += 1

    began = time.perf_counter()
    deadline = began + seconds
    await asyncio.gather(*(client(i, c) for i, c in enumerate(connections)))
    result.seconds = time.perf_counter() - began
    for c in connections:
        c.close()
    return result


def run_load(host: str, port: int, token: str, *, clients: int, seconds: float, step: Step) -> LoadResult:
    """``clients`` connections for ``seconds``, each repeating ``step``; only completed steps count."""
    return asyncio.run(_run(host, port, token, clients, seconds, step))
