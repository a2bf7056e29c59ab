"""The chain's arithmetic, free of storage: canonical encoding, links, checkpoint notes.

``hash_n = SHA-256(tag(cluster) || hash_{n-1} || SHA-256(canonical(entry_n)))`` where the canonical
encoding is a compact JSON array of the entry's columns, so no two different entries encode alike.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

GENESIS = b"\x00" * 32


def chain_tag(cluster: str) -> bytes:
    return b"consent-hub/audit/v1|" + cluster.encode()


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def format_time(at: dt.datetime | str) -> str:
    """ISO 8601 UTC with microseconds. A string is SQLite's stored form of a UTC timestamp."""
    if isinstance(at, str):
        if len(at) == 26:  # "YYYY-MM-DD HH:MM:SS.ffffff", as SQLAlchemy writes it
            return at.replace(" ", "T", 1) + "+00:00"
        at = dt.datetime.fromisoformat(at)
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    elif at.utcoffset():
        at = at.astimezone(dt.UTC)
    return at.isoformat(timespec="microseconds")


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def encode_entry(
    seq: int,
    at: dt.datetime | str,
    actor: str,
    house: str | None,
    role: str | None,
    purpose: str | None,
    action: str,
    subjects: str,
    fields: str,
    detail: str,
) -> bytes:
    """A JSON array: unambiguous (strings are quoted and escaped, null differs from "")."""
    return _dumps([seq, format_time(at), actor, house, role, purpose, action, subjects, fields, detail]).encode()


def link(tag: bytes, prev_hash: bytes, encoded_entry: bytes) -> bytes:
    return hashlib.sha256(tag + prev_hash + hashlib.sha256(encoded_entry).digest()).digest()


def subjects_text(subjects: Sequence[Any]) -> str:
    return canonical_json([str(s) for s in subjects])


def fields_text(fields: Sequence[str]) -> str:
    return canonical_json(list(fields))


def detail_text(detail: Mapping[str, Any]) -> str:
    return canonical_json(dict(detail))


def checkpoint_note(cluster: str, seq: int, head_hash: bytes) -> bytes:
    """C2SP-style signed-note body: origin, size, head."""
    return (f"consent-hub-audit/{cluster}\n{seq}\n{base64.b64encode(head_hash).decode()}\n").encode()


def key_id(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]
