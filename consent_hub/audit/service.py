"""Appending to, checkpointing and verifying a cluster's audit chain."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy.orm import Session

from consent_hub.actors import Actor
from consent_hub.audit import chain
from consent_hub.audit.repository import AuditRepository
from consent_hub.keys import KeyProvider
from consent_hub.storage.models import AuditCheckpoint, utcnow


@dataclass(frozen=True)
class AuditRecord:
    """One auditable event. Ids and names only: never a personal value."""

    action: str
    subjects: Sequence[uuid.UUID] = ()
    fields: Sequence[str] = ()
    purpose: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


class AuditLog:
    def __init__(self, session: Session, cluster: str) -> None:
        self.repo = AuditRepository(session)
        self.cluster = cluster
        self._tag = chain.chain_tag(cluster)

    def append(self, actor: Actor, *records: AuditRecord) -> list[int]:
        """Append in the caller's transaction, under the head lock: the entry commits or rolls
        back together with the change it describes."""
        if not records:
            return []
        seq, prev = self.repo.lock_head()
        at = utcnow()
        rows: list[dict[str, Any]] = []
        subject_rows: list[dict[str, Any]] = []
        for rec in records:
            seq += 1
            subjects = chain.subjects_text(rec.subjects)
            fields = chain.fields_text(rec.fields)
            detail = chain.detail_text(rec.detail)
            encoded = chain.encode_entry(
                seq,
                at,
                actor.id,
                actor.house,
                actor.role,
                rec.purpose,
                rec.action,
                subjects,
                fields,
                detail,
            )
            digest = chain.link(self._tag, prev, encoded)
            rows.append(
                {
                    "seq": seq,
                    "at": at,
                    "actor": actor.id,
                    "house": actor.house,
                    "role": actor.role,
                    "purpose": rec.purpose,
                    "action": rec.action,
                    "subjects": subjects,
                    "fields": fields,
                    "detail": detail,
                    "prev_hash": prev,
                    "hash": digest,
                }
            )
            subject_rows.extend({"person_id": s, "seq": seq} for s in dict.fromkeys(rec.subjects))
            prev = digest
        self.repo.insert_entries(rows, subject_rows)
        self.repo.move_head(seq, prev)
        return [r["seq"] for r in rows]

    def checkpoint(self, actor: Actor, keys: KeyProvider) -> AuditCheckpoint | None:
        """Sign the current head. The signing key lives with the key provider, not the database."""
        seq, head = self.repo.lock_head()
        if seq == 0:
            return None
        existing = {c.seq for c in self.repo.checkpoints()}
        if seq in existing:
            return None
        signer = keys.audit_signing_key()
        public_raw = signer.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        cp = AuditCheckpoint(
            seq=seq,
            head_hash=head,
            signed_at=utcnow(),
            key_id=chain.key_id(public_raw),
            signature=signer.sign(chain.checkpoint_note(self.cluster, seq, head)),
        )
        self.repo.add_checkpoint(cp)
        self.append(actor, AuditRecord("audit.checkpoint", detail={"checkpoint_seq": seq}))
        return cp


@dataclass
class VerifyReport:
    entries: int = 0
    checkpoints: int = 0
    first_bad_seq: int | None = None
    problem: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None and self.problem is None

    def fail(self, seq: int, problem: str) -> VerifyReport:
        if self.first_bad_seq is None:
            self.first_bad_seq, self.problem = seq, problem
        return self


def verify_chain(session: Session, cluster: str, public_key: Ed25519PublicKey | None) -> VerifyReport:
    """Recompute the whole chain and check every signed checkpoint lies on it.

    A plain edit, deletion, insertion or reordering breaks a link and is named by its sequence
    number. A rewrite that recomputes every later hash keeps the links intact but moves the chain
    off a signed checkpoint (or below it, when the tail was cut); then the first entry after the
    last checkpoint that still holds is named.
    """
    import time

    started = time.perf_counter()
    repo = AuditRepository(session)
    report = VerifyReport()
    tag = chain.chain_tag(cluster)
    checkpoints = list(repo.checkpoints())
    wanted = {cp.seq: bytes(cp.head_hash) for cp in checkpoints}
    seen: dict[int, bytes] = {}
    expected_seq = 1
    prev = chain.GENESIS
    for row in repo.stream_entries():
        seq = int(row.seq)
        if seq != expected_seq:
            report.fail(expected_seq, f"entry {expected_seq} is missing (deleted or renumbered)")
            break
        if bytes(row.prev_hash) != prev:
            report.fail(seq, f"entry {seq} does not link to entry {seq - 1} (inserted, deleted or reordered)")
            break
        encoded = chain.encode_entry(
            seq,
            row.at,
            row.actor,
            row.house,
            row.role,
            row.purpose,
            row.action,
            row.subjects,
            row.fields,
            row.detail,
        )
        digest = chain.link(tag, prev, encoded)
        if digest != bytes(row.hash):
            report.fail(seq, f"entry {seq} was altered (its hash does not match its content)")
            break
        if seq in wanted:
            seen[seq] = digest
        prev = digest
        expected_seq += 1
        report.entries += 1

    if report.ok:
        last = expected_seq - 1
        head = repo.read_head()
        if head is not None and head[0] > last:
            report.fail(last + 1, f"entries {last + 1}..{head[0]} are missing (the tail was removed)")
        elif head is not None and head[0] == last and last > 0 and head[1] != prev:
            report.fail(last, f"entry {last} does not match the chain head")

    good_until = 0
    raw_public = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw) if public_key is not None else None
    for cp in checkpoints:
        report.checkpoints += 1
        note = chain.checkpoint_note(cluster, cp.seq, bytes(cp.head_hash))
        if public_key is None or raw_public is None:
            continue
        if cp.key_id != chain.key_id(raw_public):
            report.fail(good_until + 1, f"checkpoint {cp.seq} was signed by an unknown key")
            break
        try:
            public_key.verify(bytes(cp.signature), note)
        except InvalidSignature:
            report.fail(good_until + 1, f"checkpoint {cp.seq} has an invalid signature")
            break
        if report.first_bad_seq is not None and cp.seq >= report.first_bad_seq:
            break
        if cp.seq not in seen:
            report.fail(
                good_until + 1,
                f"signed checkpoint {cp.seq} is beyond the end of the chain (entries removed after {good_until})",
            )
            break
        if seen[cp.seq] != bytes(cp.head_hash):
            report.fail(
                good_until + 1,
                f"the chain was rewritten between entries {good_until + 1} and {cp.seq} "
                f"(signed checkpoint {cp.seq} no longer matches)",
            )
            break
        good_until = cp.seq
    report.seconds = time.perf_counter() - started
    return report


def utc(at: dt.datetime) -> dt.datetime:
    return at.astimezone(dt.UTC)
