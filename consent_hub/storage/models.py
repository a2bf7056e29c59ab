"""Tables of one cluster database. No column holds plaintext personal data.

Personal fields are ``*_ct`` ciphertexts; lookups use ``*_bidx`` blind indexes; wrapped data keys
live in ``person_keys`` so that erasure is a single DELETE of one small row.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, UserDefinedType

from consent_hub.clock import utcnow
from consent_hub.crypto.randomness import new_uuid
from consent_hub.vocabulary import (
    ConsentStatus,
    DeliveryKind,
    DeliveryStatus,
    EngineCustomerStatus,
    PersonStatus,
    RequestChannel,
    RequestKind,
    RequestPartStatus,
    RequestStatus,
    SyncRunStatus,
    sql_in,
)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware on PostgreSQL; SQLite stores naive UTC. Callers always get aware UTC back."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is not None and value.tzinfo is not None and dialect.name == "sqlite":
            return value.astimezone(dt.UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


class House(Base):
    __tablename__ = "houses"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    tixly_organisation_id: Mapped[str | None] = mapped_column(String(64))
    ticketmatic_account: Mapped[str | None] = mapped_column(String(64))
    uitdatabank_organizer_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ApiClient(Base):
    """A bearer credential: one cluster (this database), at most one house, one role."""

    __tablename__ = "api_clients"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    key_id: Mapped[str] = mapped_column(String(24), unique=True)
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    name: Mapped[str] = mapped_column(String(200))
    house_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("houses.id"))
    role: Mapped[str] = mapped_column(String(40))
    agreement_ref: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class Person(Base):
    __tablename__ = "people"
    # the CHECK constraints of this module are added by migration 0017, from the same enums
    __table_args__ = (CheckConstraint(sql_in("status", PersonStatus), name="status"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default=PersonStatus.ACTIVE)
    email_bidx: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)
    phone_bidx: Mapped[bytes | None] = mapped_column(LargeBinary(32), index=True)
    # coarse keyed indexes for audience filters (language; postal area = country + 2 characters)
    language_bidx: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    postal_area_bidx: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    given_name_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    family_name_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    email_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    street_address_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    postal_code_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    city_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    country_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    birth_date_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    language_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    row_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    erased_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class KeyStoreBase(DeclarativeBase):
    """The key store is a separate database (own file / own PostgreSQL database) so that it can
    have its own, short backup retention: a copy of the cluster database taken before an erasure
    holds no key to the erased person's ciphertexts."""

    metadata = MetaData(naming_convention=NAMING)


class PersonKey(KeyStoreBase):
    """A person's data key, wrapped by the cluster KEK (version ``kek_version``)."""

    __tablename__ = "person_keys"

    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kek_version: Mapped[int] = mapped_column(Integer, index=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary(61))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    rewrapped_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class Suppression(Base):
    """An erased e-mail address, as its blind index only: stops a sync re-creating marketing consent."""

    __tablename__ = "suppressions"

    email_bidx: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    suppressed_on: Mapped[dt.date] = mapped_column(Date)


class AuditHead(Base):
    """Tip of the hash chain; one row, locked by the one sequencer at work (or, on SQLite, by the
    writer appending in its own transaction)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditEntry(Base):
    """Append-only. ``hash = SHA-256(tag | prev_hash | SHA-256(canonical entry))``."""

    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(120))
    house: Mapped[str | None] = mapped_column(String(40))
    role: Mapped[str | None] = mapped_column(String(40))
    purpose: Mapped[str | None] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(60), index=True)
    subjects: Mapped[str] = mapped_column(Text)  # canonical JSON list of person ids
    fields: Mapped[str] = mapped_column(Text)  # canonical JSON list of field names
    detail: Mapped[str] = mapped_column(Text)  # canonical JSON object, ids and counts only
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    # the queued entry this one was made from (None for an entry chained in the writer's own
    # transaction); bookkeeping outside the hash, unique, so a queued entry is chained once
    queue_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))

    __table_args__ = (Index("uq_audit_entries_queue_id", "queue_id", unique=True),)


class AuditQueued(Base):
    """An audit entry written in the transaction of the change it describes, waiting for the
    sequencer to give it a sequence number and a hash (``audit/sequencer.py``). Never updated;
    deleted only once its chained entry exists (migration 0018)."""

    __tablename__ = "audit_queue"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), Identity(), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(120))
    house: Mapped[str | None] = mapped_column(String(40))
    role: Mapped[str | None] = mapped_column(String(40))
    purpose: Mapped[str | None] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(60))
    subjects: Mapped[str] = mapped_column(Text)
    fields: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text)


class AuditSubject(Base):
    """Index from a person to the audit entries naming them (their own access history)."""

    __tablename__ = "audit_subjects"

    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)


class AuditCheckpoint(Base):
    """Signed statement: "the chain had ``seq`` entries and head ``head_hash``"."""

    __tablename__ = "audit_checkpoints"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    head_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    signed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))


Index("ix_people_status", Person.status)


class Notice(Base):
    """An immutable notice text, per purpose and language; its SHA-256 identifies it."""

    __tablename__ = "notices"
    __table_args__ = (
        UniqueConstraint("purpose", "language", "version", name="uq_notices_purpose_language_version"),
        UniqueConstraint("purpose", "language", "sha256", name="uq_notices_purpose_language_sha256"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    purpose: Mapped[str] = mapped_column(String(80))
    language: Mapped[str] = mapped_column(String(8))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ConsentEvent(Base):
    """Append-only: a consent given, refused or withdrawn, with the notice shown and evidence.

    ``evidence_ct`` is sealed with the person's data key: erasure makes it unreadable."""

    __tablename__ = "consent_events"
    __table_args__ = (
        UniqueConstraint("actor", "idempotency_key", name="uq_consent_events_actor_idempotency_key"),
        Index("ix_consent_events_person_id", "person_id"),
        CheckConstraint(sql_in("status", ConsentStatus), name="status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    purpose: Mapped[str] = mapped_column(String(80))
    target_kind: Mapped[str] = mapped_column(String(16))
    target_ref: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(16))
    notice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("notices.id"))
    notice_sha256: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    channel: Mapped[str] = mapped_column(String(24))
    evidence_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    given_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(120))
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    request_hash: Mapped[str | None] = mapped_column(String(64))


class ConsentState(Base):
    """Projection: the latest event per (person, purpose, target). Rebuildable from the events."""

    __tablename__ = "consent_states"
    __table_args__ = (
        Index("ix_consent_states_lookup", "purpose", "target_kind", "target_ref", "status"),
        CheckConstraint(sql_in("status", ConsentStatus), name="status"),
    )

    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(80), primary_key=True)
    target_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    target_ref: Mapped[str] = mapped_column(String(80), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    given_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class Relation(Base):
    """A person's own relation with a house: ``customer`` (bought or registered there) or
    ``subscriber`` (member of a program that covers the house). Consents are not relations."""

    __tablename__ = "relations"
    __table_args__ = (Index("ix_relations_house_id_kind", "house_id", "kind"),)

    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    house_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("houses.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    program: Mapped[str] = mapped_column(String(80), primary_key=True, default="")
    first_seen: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    last_seen: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class AccessKey(Base):
    """Denormalised visibility: one row per (basis key, person), kept in step with relations and
    consent states in the same transaction, so counts are index-only. Keys:
    ``c:<house id>`` customer, ``s:<house id>`` program subscriber, ``h:<house>:<purpose>`` consent
    to a house, ``k:<purpose>`` consent to the whole cluster (granted ones only, with their expiry)."""

    __tablename__ = "access_keys"
    __table_args__ = (Index("ix_access_keys_key_expires_at_person_id", "key", "expires_at", "person_id"),)

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


# -- ticketing engine sync (issue 4) ------------------------------------------------------------


class EngineCustomer(Base):
    """A ticketing-engine customer record and the person it was matched to (one person per e-mail
    in the cluster). ``fields_mac`` is a keyed MAC of the mapped fields, so an unchanged record
    re-read by the look-back window is recognised without decrypting anything. ``person_id`` is
    empty for a record that was not imported (its e-mail is on the suppression list)."""

    __tablename__ = "engine_customers"
    __table_args__ = (
        Index("ix_engine_customers_person_id", "person_id"),
        CheckConstraint(sql_in("status", EngineCustomerStatus), name="status"),
    )

    source: Mapped[str] = mapped_column(String(80), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    house_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("houses.id"))
    status: Mapped[str] = mapped_column(String(16))
    fields_mac: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    first_seen: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    last_seen: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class Event(Base):
    """A performance as the engine knows it (no personal data)."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_events_source_external_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    source: Mapped[str] = mapped_column(String(80))
    external_id: Mapped[str] = mapped_column(String(64))
    house_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("houses.id"))
    title: Mapped[str] = mapped_column(String(300))
    starts_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    ends_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    categories: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of the engine's category names
    uit_event_type: Mapped[str | None] = mapped_column(String(40))  # UiT taxonomy term, when classified
    uit_themes: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of UiT theme terms, when classified
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class Sale(Base):
    """One ticket line as the engine reports it; a return is its own line with a negative count."""

    __tablename__ = "sales"
    __table_args__ = (
        Index("ix_sales_person_id", "person_id"),
        Index("ix_sales_house_id_sold_at", "house_id", "sold_at"),
        # segments filter lines by event (type, theme, date) and aggregate them per buyer: on
        # PostgreSQL the covering columns let that read the index alone, never the heap
        Index(
            "ix_sales_event_id_person_id",
            "event_id",
            "person_id",
            postgresql_include=["house_id", "ticket_count", "price", "sold_at"],
        ),
        Index("ix_sales_source_order_ref", "source", "order_ref"),
        # only lines waiting for their customer are looked up by the engine's customer id
        Index(
            "ix_sales_source_customer_ref",
            "source",
            "customer_ref",
            postgresql_where=text("person_id IS NULL"),
            sqlite_where=text("person_id IS NULL"),
        ),
    )

    source: Mapped[str] = mapped_column(String(80), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # none for anonymous sales
    # the engine's customer id: a line whose customer is not (yet) imported waits here for them
    customer_ref: Mapped[str | None] = mapped_column(String(64))
    # no foreign keys: the one writer takes both from ids it looked up in the same transaction,
    # and houses and events are never deleted (see migration 0014)
    house_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    order_ref: Mapped[str | None] = mapped_column(String(64))
    ticket_type: Mapped[str | None] = mapped_column(String(80))
    program: Mapped[str | None] = mapped_column(String(80))  # a subscription (program) ticket
    price: Mapped[int] = mapped_column(Integer)  # euro cents
    ticket_count: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str | None] = mapped_column(String(16))  # online | box-office
    sold_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class ProgramMembership(Base):
    """A membership of a shared program (a joint subscription such as CUBO) bought by a person."""

    __tablename__ = "program_memberships"
    __table_args__ = (Index("ix_program_memberships_person_id", "person_id"),)

    source: Mapped[str] = mapped_column(String(80), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    program: Mapped[str] = mapped_column(String(80))
    house_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("houses.id"))  # the house that sold it
    sold_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    cancelled: Mapped[bool] = mapped_column(default=False)


class ConnectorState(Base):
    """The bookmark of one stream: moved only in the transaction that commits the page it follows."""

    __tablename__ = "connector_state"

    connector: Mapped[str] = mapped_column(String(80), primary_key=True)
    stream: Mapped[str] = mapped_column(String(40), primary_key=True)
    partition: Mapped[str] = mapped_column(String(80), primary_key=True, default="")
    cursor: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class SyncRun(Base):
    """One run of a connector: counts are moved with each committed page, so a killed run shows
    what it committed. ``detail`` holds per-stream counts and skip reasons (no personal data)."""

    __tablename__ = "sync_runs"
    __table_args__ = (
        Index("ix_sync_runs_connector_started_at", "connector", "started_at"),
        CheckConstraint(sql_in("status", SyncRunStatus), name="status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    connector: Mapped[str] = mapped_column(String(80))
    trigger: Mapped[str] = mapped_column(String(16))  # cli | schedule | api | demo
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    heartbeat_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    upper_bound: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_written: Mapped[int] = mapped_column(Integer, default=0)
    rows_skipped: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    retries: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[str] = mapped_column(Text, default="{}")
    error: Mapped[str | None] = mapped_column(Text)


class SyncSkip(Base):
    """A record a run skipped: the engine's record id and the rule it broke, never its values."""

    __tablename__ = "sync_skips"
    __table_args__ = (Index("ix_sync_skips_run_id", "run_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sync_runs.id"))
    stream: Mapped[str] = mapped_column(String(40))
    record_ref: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(String(300))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


# -- outbox (issue 5) ----------------------------------------------------------------------------


class OutboxDelivery(Base):
    """One thing a destination must learn, enqueued in the transaction of the change that causes
    it. It carries ids only: the fields sent are read (and audited) at send time, and an upsert is
    re-checked against the consent at send time. ``payload`` holds what an erasure still needs
    once the person's key is gone (e.g. a destination's own hash of the address); it is cleared
    once delivered."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_outbox_destination_person_id_created_at", "destination", "person_id", "created_at"),
        UniqueConstraint("dedupe_key", name="uq_outbox_dedupe_key"),
        CheckConstraint(sql_in("status", DeliveryStatus), name="status"),
        CheckConstraint(sql_in("kind", DeliveryKind), name="kind"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    destination: Mapped[str] = mapped_column(String(80))
    person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    kind: Mapped[str] = mapped_column(String(32))
    cause: Mapped[str] = mapped_column(String(120))  # consent:<event id> | erasure | expiry:<event id> | export:<id>
    dedupe_key: Mapped[str | None] = mapped_column(String(160))
    payload: Mapped[str] = mapped_column(Text, default="{}")
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    # what was sent after the send-time check: a DeliveryKind or NOTHING_SENT
    sent_as: Mapped[str | None] = mapped_column(String(32))
    receipt: Mapped[str | None] = mapped_column(Text)  # the destination's answer (ids, status; no personal data)
    last_error: Mapped[str | None] = mapped_column(Text)


# -- audiences (issue 5) -------------------------------------------------------------------------


class Segment(Base):
    """A saved audience definition of one house (filters over purchase history, and a purpose)."""

    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("house", "name", name="uq_segments_house_name"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    house: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(120))
    purpose: Mapped[str] = mapped_column(String(80))
    definition: Mapped[str] = mapped_column(Text)  # canonical JSON
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class AudienceExport(Base):
    """An audited snapshot: the definition, purpose, caller, destination and exact count; its
    members with the consent event that made each one eligible at that moment."""

    __tablename__ = "audience_exports"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    segment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    house: Mapped[str] = mapped_column(String(40))
    purpose: Mapped[str] = mapped_column(String(80))
    definition: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(120))
    destination: Mapped[str] = mapped_column(String(80))  # csv | xlsx | <destination name>
    fields: Mapped[str] = mapped_column(Text)  # JSON list of the fields exported
    member_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class AudienceExportMember(Base):
    """A member of an export's snapshot. No foreign key to the export: the rows are written with
    their export in one transaction and never change (see migration 0012)."""

    __tablename__ = "audience_export_members"

    export_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    consent_event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class CountAnswer(Base):
    """A protected figure shown to a house: asked again the same day, the same question gets the
    same answer, so repeating it neither averages the noise away nor costs budget. ``question``
    is a keyed hash of (role, purpose, canonical definition, cell); ``noisy`` the figure with its
    noise (shown as "<10" below the minimum cohort)."""

    __tablename__ = "count_answers"

    house: Mapped[str] = mapped_column(String(40), primary_key=True)
    question: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    noisy: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class PrivacyBudget(Base):
    """What a house has spent of its privacy budget in one period (a calendar month, UTC), in
    millionths of epsilon; spent only by a conditional UPDATE, so it never passes the limit."""

    __tablename__ = "privacy_budgets"

    house: Mapped[str] = mapped_column(String(40), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM
    spent_micro: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


# -- segment bitmaps (PostgreSQL; see migration 0013 and audiences/bitmaps.py) --------------------


class VarBit(UserDefinedType):  # type: ignore[type-arg]
    """PostgreSQL ``varbit``; read and written as SQL bit strings by ``audiences/bitmaps.py``."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "VARBIT"


class PersonOrdinal(Base):
    """A dense number per person: the bit of the person in every segment bitmap."""

    __tablename__ = "person_ordinals"

    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    ordinal: Mapped[int] = mapped_column(Integer, Identity(start=0, minvalue=0), unique=True)


class AccessKeyBits(Base):
    """The people holding an access key, as a bitmap kept exact by triggers on ``access_keys``."""

    __tablename__ = "access_key_bits"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    bits: Mapped[Any] = mapped_column(VarBit())


class AccessKeyBitsDirty(Base):
    """A key whose holders changed since its bitmap was built (set by the ``access_keys`` trigger;
    cleared by ``SegmentBitmaps.refresh`` once the bitmap is rebuilt)."""

    __tablename__ = "access_key_bits_dirty"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    key: Mapped[str] = mapped_column(String(160), index=True)


class VisitBits(Base):
    """The people with net-positive tickets to an event at a house, as a bitmap."""

    __tablename__ = "visit_bits"

    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    house_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    bits: Mapped[Any] = mapped_column(VarBit())


class VisitBitsDirty(Base):
    """(event, house) pairs whose ticket lines changed since their bitmap was built."""

    __tablename__ = "visit_bits_dirty"

    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    house_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    mark: Mapped[int] = mapped_column(BigInteger)


# -- the buyer's own hub (issue 14) --------------------------------------------------------------


class BuyerSignIn(Base):
    """One sign-in asked for with an e-mail address: a link token, a code and the handle of the
    page where the code is typed, each stored only as a keyed hash. For an unknown address
    ``person_id`` is a random id that names nobody: the row is written all the same, so the answer
    and its work do not tell whether the address is known. Used once (``used_at``), revoked by a
    later sign-in or an erasure."""

    __tablename__ = "buyer_sign_ins"
    __table_args__ = (Index("ix_buyer_sign_ins_person_id", "person_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    form_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    tries_left: Mapped[int] = mapped_column(Integer)
    language: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class BuyerSession(Base):
    """A signed-in buyer's session: the cookie's value is never stored, only its keyed hash."""

    __tablename__ = "buyer_sessions"
    __table_args__ = (Index("ix_buyer_sessions_person_id", "person_id"),)

    id_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    language: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class DataSubjectRequest(Base):
    """A data-subject request (GDPR Art. 15-21) with its register reference, when it was received
    and when it is due: one month after receipt in the cluster's time zone (Art. 12(3)),
    ``extended_due_at`` when extended by up to two more months with a reason mailed to the person.
    ``house`` names the house it was addressed to (none: the cluster); the houses that are
    controllers for the person each sign off their part (``DataSubjectRequestPart``). How the
    identity was verified is recorded, never the evidence. ``detail_ct`` (what to rectify, the
    reason given) is sealed with the person's key, so an erasure leaves only the register line.
    Each move is a ``DataSubjectRequestStep`` and an audit entry."""

    __tablename__ = "data_subject_requests"
    __table_args__ = (
        Index("ix_data_subject_requests_person_id", "person_id"),
        Index("ix_data_subject_requests_status_due_at", "status", "due_at"),
        Index("ix_data_subject_requests_house", "house"),
        CheckConstraint(sql_in("kind", RequestKind), name="kind"),
        CheckConstraint(sql_in("status", RequestStatus), name="status"),
        CheckConstraint(sql_in("channel", RequestChannel), name="channel"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    reference: Mapped[str] = mapped_column(String(24), unique=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    kind: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(24))
    channel: Mapped[str] = mapped_column(String(24))  # a RequestChannel
    house: Mapped[str | None] = mapped_column(String(40))
    detail_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    due_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    extended_due_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    extension_reason: Mapped[str | None] = mapped_column(Text)  # no personal data
    closed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(String(120))
    # the cluster's time zone when received: the deadline's calendar (Art. 12(3))
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    verified_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    verified_by: Mapped[str | None] = mapped_column(String(120))
    verification: Mapped[str | None] = mapped_column(String(24))  # an IdentityCheck
    verification_note: Mapped[str | None] = mapped_column(Text)  # no personal data
    refusal_reason: Mapped[str | None] = mapped_column(Text)  # no personal data; mailed with the DPA right
    extension_mailed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    outcome: Mapped[str | None] = mapped_column(Text)  # what was done (ids, counts; no personal data)
    language: Mapped[str] = mapped_column(String(8), default="nl", server_default="nl")  # of the mails


class DataSubjectRequestPart(Base):
    """One controller house's part of a request, signed off under the request's one deadline."""

    __tablename__ = "data_subject_request_parts"
    __table_args__ = (
        Index("ix_data_subject_request_parts_house_status", "house", "status"),
        CheckConstraint(sql_in("status", RequestPartStatus), name="status"),
    )

    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_subject_requests.id"), primary_key=True)
    house: Mapped[str] = mapped_column(String(40), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    signed_off_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    signed_off_by: Mapped[str | None] = mapped_column(String(120))
    note: Mapped[str] = mapped_column(Text, default="")  # no personal data


class DpoSession(Base):
    """A DPO signed in on the console with their API key: the cookie's value is never stored, only
    its keyed hash; the session carries the key's client, role and house, and ends with the key."""

    __tablename__ = "dpo_sessions"
    __table_args__ = (Index("ix_dpo_sessions_client_id", "client_id"),)

    id_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    client_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    role: Mapped[str] = mapped_column(String(40))
    house: Mapped[str | None] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(8))
    csrf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class DataSubjectRequestStep(Base):
    """One step of a request (received, confirmed, performed, extended, answered, ...): who, when,
    the status after it, and a note without personal data."""

    __tablename__ = "data_subject_request_steps"
    __table_args__ = (Index("ix_data_subject_request_steps_request_id", "request_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_subject_requests.id"))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(120))
    step: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(24))
    note: Mapped[str] = mapped_column(Text, default="")
