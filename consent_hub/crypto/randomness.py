"""Random bytes for nonces, data keys and row ids, drawn from the operating system in blocks.

``os.urandom`` releases the GIL around its system call. When another thread of the process is
busy in Python (a sync's page reader decoding JSON, the server's request threads), getting the
GIL back waits for that thread's switch interval: one ``os.urandom(12)`` took 0.9 us alone and
153 us beside a busy thread (measured on this project's machine), and a page of new people draws
a dozen per person. Here each thread draws ``BLOCK`` bytes at a time and hands every byte out
once. The bytes are the kernel's CSPRNG output all the same; a forked child drops its parent's
block, so no two processes ever hand out the same bytes.
"""

from __future__ import annotations

import base64
import os
import re
import threading
import uuid

BLOCK = 4096


class _Block(threading.local):
    def __init__(self) -> None:
        self.data = b""
        self.used = 0


_block = _Block()


def _forget_block() -> None:
    global _block
    _block = _Block()


os.register_at_fork(after_in_child=_forget_block)


def random_bytes(n: int) -> bytes:
    """``n`` bytes from the OS CSPRNG, never handed out twice."""
    if n > BLOCK // 8:
        return os.urandom(n)
    block = _block
    if block.used + n > len(block.data):
        block.data, block.used = os.urandom(BLOCK), 0
    start = block.used
    block.used = start + n
    return block.data[start : start + n]


def new_uuid() -> uuid.UUID:
    """A random (version 4) UUID, as ``uuid.uuid4`` makes it, from ``random_bytes``."""
    return uuid.UUID(bytes=random_bytes(16), version=4)


# a cookie or link token: 32 random bytes, URL-safe base64 without padding
TOKEN_BYTES = 32
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{20,100}$")


def new_token() -> str:
    return base64.urlsafe_b64encode(random_bytes(TOKEN_BYTES)).decode().rstrip("=")
