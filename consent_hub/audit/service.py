"""Appending to, checkpointing and verifying a cluster's audit chain."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from consent_hub.actors import Actor
from consent_hub.audit import chain
from consent_hub.audit.auth import require_audit_searcher
from consent_hub.audit.repository import AuditRepository
from consent_hub.audit.schemas import AuditFilter
from consent_hub.audit.sequencer import AuditSequencer, chain_entries
from consent_hub.clock import utcnow
from consent_hub.clusters import after_commit
from consent_hub.crypto.key_providers import KeyProvider
from consent_hub.storage.models import AuditCheckpoint, AuditEntry


@dataclass(frozen=True)
class AuditRecord:
    """One auditable event. Ids and names only: never a personal value."""

    action: str
    subjects: Sequence[uuid.UUID] = ()
    fields: Sequence[str] = ()
    purpose: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


def queues_entries(session: Session) -> bool:
    """PostgreSQL writers queue their entries and a sequencer chains them; SQLite writers already
    hold the database's one write lock (BEGIN IMMEDIATE), so they chain their own entries in their
    transaction and nothing waits longer for it."""
    return session.get_bind().dialect.name == "postgresql"


def _engine(session: Session) -> Engine:
    """The engine behind a session: the sequencer works in its own transaction, beside the caller's."""
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def _entry(actor: Actor, rec: AuditRecord, at: Any) -> dict[str, Any]:
    return {
        "at": at,
        "actor": actor.id,
        "house": actor.house,
        "role": actor.role,
        "purpose": rec.purpose,
        "action": rec.action,
        "subjects": chain.subjects_text(rec.subjects),
        "fields": chain.fields_text(rec.fields),
        "detail": chain.detail_text(rec.detail),
    }


class AuditLog:
    def __init__(self, session: Session, cluster: str) -> None:
        self.repo = AuditRepository(session)
        self.cluster = cluster
        self._tag = chain.chain_tag(cluster)
        self.queued = queues_entries(session)

    def read_entries(
        self, actor: Actor, *, limit: int, before: int | None = None, person: uuid.UUID | None = None
    ) -> Sequence[AuditEntry]:
        """A page of the log (newest first), only entries naming ``person`` if given; the read is
        itself an entry. Entries queued before the read are chained first, so the page holds
        every change committed before it."""
        self.sequence_committed()
        rows = self.repo.entries_for_person(person, limit, before) if person else self.repo.entries(limit, before)
        self.append(actor, AuditRecord("audit.read", [person] if person else [], detail={"entries": len(rows)}))
        return rows

    def search(
        self, actor: Actor, flt: AuditFilter, *, limit: int, before: int | None = None
    ) -> Sequence[AuditEntry]:
        """A page of the entries matching ``flt`` (newest first), for a DPO: a house DPO's search is
        held to their house (another house's entries: none, as for a house that does not exist).
        The search is itself an entry (the filter asked, as ids and codes)."""
        require_audit_searcher(actor)
        foreign = flt.names_another_house(actor.house)
        flt = flt.scoped_to(actor.house) if not foreign else flt
        self.sequence_committed()
        rows = [] if foreign else self.repo.search(flt, limit, before)
        self.append(
            actor,
            AuditRecord(
                "audit.search",
                [flt.person] if flt.person else [],
                detail={"filter": flt.described(), "entries": len(rows)},
            ),
        )
        return rows

    def stream(self, actor: Actor, flt: AuditFilter, *, batch: int = 5_000) -> Iterator[Any]:
        """Every entry matching ``flt`` in sequence order (Core rows, bounded memory) for a
        report; the caller appends the report's own audit entry."""
        require_audit_searcher(actor)
        if flt.names_another_house(actor.house):
            return iter(())
        self.sequence_committed()
        return self.repo.stream_matching(flt.scoped_to(actor.house), batch)

    def sequence_committed(self) -> int:
        """Chain every entry queued by a committed transaction (waiting for a sequencer at work)."""
        if not self.queued:
            return 0
        return AuditSequencer(_engine(self.repo.session), self.cluster).drain(wait=True)

    def append(self, actor: Actor, *records: AuditRecord) -> None:
        """Append in the caller's transaction: the entry commits or rolls back together with the
        change it describes. Queued (PostgreSQL: no lock, the sequencer chains it after the
        commit) or chained at once under the head lock (SQLite)."""
        if not records:
            return
        at = utcnow()
        entries = [_entry(actor, rec, at) for rec in records]
        if self.queued:
            self.repo.enqueue(entries)
            sequencer = AuditSequencer(_engine(self.repo.session), self.cluster)
            after_commit(self.repo.session, "audit.sequence", sequencer.drain_if_idle)
        else:
            self._chain(entries, self.repo.lock_head())

    def _chain(self, entries: list[dict[str, Any]], head: tuple[int, bytes]) -> None:
        rows, subjects, seq, digest = chain_entries(self._tag, head, entries)
        self.repo.insert_entries(rows, subjects)
        self.repo.move_head(seq, digest)

    def last_checkpoint(self) -> AuditCheckpoint | None:
        """The latest signed checkpoint the database holds (the DPO console shows and exports it)."""
        stored = self.repo.checkpoints()
        return max(stored, key=lambda cp: cp.seq) if stored else None

    def checkpoint(self, actor: Actor, keys: KeyProvider) -> AuditCheckpoint | None:
        """Sign the current head (after chaining what is queued). The signing key lives with the
        key provider, not the database."""
        self.sequence_committed()
        seq, head = self.repo.lock_head()
        if seq == 0:
            return None
        existing = {c.seq for c in self.repo.checkpoints()}
        if seq in existing:
            return None
        if seq - 1 in existing and self.repo.entry_action(seq) == "audit.checkpoint":
            return None  # nothing happened since the last checkpoint but its own entry
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
        # chained at once, under the head this transaction holds: the entry follows its checkpoint
        record = AuditRecord("audit.checkpoint", detail={"checkpoint_seq": seq})
        self._chain([_entry(actor, record, utcnow())], (seq, head))
        return cp


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint as exported outside the database (C2SP signed-note style text)."""

    seq: int
    head_hash: bytes
    key_id: str
    signature: bytes

    @classmethod
    def of(cls, cp: AuditCheckpoint) -> SignedCheckpoint:
        return cls(int(cp.seq), bytes(cp.head_hash), cp.key_id, bytes(cp.signature))

    def to_text(self, cluster: str) -> str:
        note = chain.checkpoint_note(cluster, self.seq, self.head_hash).decode()
        sig = base64.b64encode(self.signature).decode()
        return f"{note}\n\u2014 consent-hub-audit/{cluster} {self.key_id} {sig}\n"

    @classmethod
    def parse_many(cls, text: str, cluster: str) -> list[SignedCheckpoint]:
        """Read checkpoints exported with ``to_text`` (blank lines between them are ignored)."""
        origin = f"consent-hub-audit/{cluster}"
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if len(lines) % 4:
            raise ValueError("checkpoint file is truncated or malformed")
        out: list[SignedCheckpoint] = []
        for i in range(0, len(lines), 4):
            head, seq, digest, sig = lines[i : i + 4]
            parts = sig.split(" ")
            if head != origin or len(parts) != 4 or parts[0] != "\u2014" or parts[1] != origin:
                raise ValueError(f"not a checkpoint of cluster {cluster!r}")
            try:
                out.append(
                    cls(
                        int(seq),
                        base64.b64decode(digest, validate=True),
                        parts[2],
                        base64.b64decode(parts[3], validate=True),
                    )
                )
            except ValueError:
                raise ValueError("malformed checkpoint") from None
        return out


@dataclass
class VerifyReport:
    entries: int = 0
    checkpoints: int = 0
    queued: int = 0  # entries committed but not chained yet (written while the check ran)
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


def verify_chain(
    session: Session,
    cluster: str,
    public_key: Ed25519PublicKey | None,
    external: Sequence[SignedCheckpoint] = (),
) -> VerifyReport:
    """Recompute the whole chain and check every signed checkpoint lies on it.

    A plain edit, deletion, insertion or reordering breaks a link and is named by its sequence
    number. A rewrite that recomputes every later hash keeps the links intact but moves the chain
    off a signed checkpoint (or below it, when the tail was cut); then the first entry after the
    last checkpoint that still holds is named.
    """
    started = time.perf_counter()
    repo = AuditRepository(session)
    report = VerifyReport()
    if queues_entries(session):
        AuditSequencer(_engine(session), cluster).drain(wait=True)  # check every committed entry
    stored = [SignedCheckpoint.of(cp) for cp in repo.checkpoints()]
    # checkpoints kept outside the database are checked like the stored ones: an attacker who
    # rewrote the chain and deleted the stored checkpoints still cannot move an exported one
    checkpoints = sorted({(cp.seq, cp.signature): cp for cp in [*stored, *external]}.values(), key=lambda c: c.seq)
    walk = _walk_links(repo, chain.chain_tag(cluster), {cp.seq for cp in checkpoints}, report)
    if report.ok:
        _check_head(repo, walk, {cp.seq for cp in stored}, report)
    _check_checkpoints(cluster, checkpoints, walk.seen, public_key, report)
    report.queued = repo.queue_length()
    report.seconds = time.perf_counter() - started
    return report


@dataclass
class _Walk:
    """What a walk along the links found: the last good hash, the hashes at the checkpoints'
    sequence numbers, and which entry recorded each checkpoint's signing."""

    prev: bytes = chain.GENESIS
    seen: dict[int, bytes] = field(default_factory=dict)
    claimed: dict[int, int] = field(default_factory=dict)  # checkpoint seq -> entry that recorded it


def _walk_links(repo: AuditRepository, tag: bytes, wanted: set[int], report: VerifyReport) -> _Walk:
    """Recompute every link in order; stop at the first entry missing, out of place or altered."""
    walk = _Walk()
    expected_seq = 1
    encode, link = chain.encode_entry, chain.link
    for seq, at, actor, house, role, purpose, action, subjects, fields, detail, prev_hash, stored in repo.stream_raw():
        if seq != expected_seq:
            report.fail(expected_seq, f"entry {expected_seq} is missing (deleted or renumbered)")
            break
        if bytes(prev_hash) != walk.prev:
            report.fail(seq, f"entry {seq} does not link to entry {seq - 1} (inserted, deleted or reordered)")
            break
        digest = link(tag, walk.prev, encode(seq, at, actor, house, role, purpose, action, subjects, fields, detail))
        if digest != bytes(stored):
            report.fail(seq, f"entry {seq} was altered (its hash does not match its content)")
            break
        if seq in wanted:
            walk.seen[seq] = digest
        if action == "audit.checkpoint":
            try:
                walk.claimed[int(json.loads(detail)["checkpoint_seq"])] = seq
            except (ValueError, KeyError, TypeError):
                report.fail(seq, f"entry {seq} records a checkpoint it does not name")
                break
        walk.prev = digest
        expected_seq += 1
    report.entries = expected_seq - 1
    return walk


def _check_head(repo: AuditRepository, walk: _Walk, stored_seqs: set[int], report: VerifyReport) -> None:
    """The head row must end where the links end, and no recorded checkpoint may be gone."""
    last = report.entries
    head = repo.read_head()
    if head is None:
        report.fail(max(last, 1), "the chain head row is missing")
    elif head[0] > last:
        report.fail(last + 1, f"entries {last + 1}..{head[0]} are missing (the tail was removed)")
    elif head[0] < last:
        report.fail(
            head[0] + 1,
            f"entries {head[0] + 1}..{last} lie beyond the chain head (written outside the hub, "
            "or the head was moved back)",
        )
    elif last > 0 and head[1] != walk.prev:
        report.fail(last, f"entry {last} does not match the chain head")
    for cp_seq, entry_seq in sorted(walk.claimed.items()):
        if cp_seq not in stored_seqs:
            report.fail(entry_seq, f"signed checkpoint {cp_seq}, recorded at entry {entry_seq}, was removed")
            break


def _check_checkpoints(
    cluster: str,
    checkpoints: Sequence[SignedCheckpoint],
    seen: Mapping[int, bytes],
    public_key: Ed25519PublicKey | None,
    report: VerifyReport,
) -> None:
    """Each signature must be valid and its head lie on the chain; a failure names the first entry
    after the last checkpoint that still holds."""
    good_until = 0
    raw_public = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw) if public_key is not None else None
    for cp in checkpoints:
        report.checkpoints += 1
        note = chain.checkpoint_note(cluster, cp.seq, cp.head_hash)
        if public_key is None or raw_public is None:
            continue
        if cp.key_id != chain.key_id(raw_public):
            report.fail(good_until + 1, f"checkpoint {cp.seq} was signed by an unknown key")
            break
        try:
            public_key.verify(cp.signature, note)
        except InvalidSignature:
            report.fail(good_until + 1, f"checkpoint {cp.seq} has an invalid signature")
            break
        if report.first_bad_seq is not None and cp.seq >= report.first_bad_seq:
            break
        if cp.seq not in seen:
            if cp.seq > report.entries:
                # the chain holds up to report.entries, but a signature covers up to cp.seq
                report.fail(
                    report.entries + 1,
                    f"entries {report.entries + 1}..{cp.seq} are missing: the chain ends at entry "
                    f"{report.entries}, but signed checkpoint {cp.seq} covers up to {cp.seq} (the tail was cut)",
                )
            else:
                report.fail(good_until + 1, f"signed checkpoint {cp.seq} does not lie on the chain")
            break
        if seen[cp.seq] != cp.head_hash:
            report.fail(
                good_until + 1,
                f"the chain was rewritten between entries {good_until + 1} and {cp.seq} "
                f"(signed checkpoint {cp.seq} no longer matches)",
            )
            break
        good_until = cp.seq
