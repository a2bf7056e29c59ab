"""People service: the only code that encrypts or decrypts a person's fields.

``read`` is the single decryption path: it writes its audit entry (who, role, purpose, which
people, which fields) in the caller's transaction *before* it unwraps any key, so a read that
cannot be recorded does not happen.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from consent_hub.actors import Actor
from consent_hub.audit.service import AuditLog, AuditRecord
from consent_hub.clock import utcnow
from consent_hub.clusters import UnitOfWork
from consent_hub.crypto.blind_index import LANGUAGE_INDEX, POSTAL_AREA_INDEX, language_form, postal_area_form
from consent_hub.crypto.fields import FieldCipher, new_data_key
from consent_hub.crypto.randomness import new_uuid
from consent_hub.errors import EmailTaken, ErasedPerson, Forbidden, InvalidInput, PersonNotFound
from consent_hub.keys.repository import KeyStoreRepository
from consent_hub.people.auth import require_people_reader, require_people_writer, require_request_registrar
from consent_hub.people.fields import (
    PERSON_FIELDS,
    PersonFields,
    email_index_form,
    normalise_email,
    validate_fields,
)
from consent_hub.people.repository import PeopleRepository
from consent_hub.people.statuses import RECORDED_STATUSES
from consent_hub.storage import access_keys
from consent_hub.storage.models import Person
from consent_hub.validation import reference_detail
from consent_hub.vocabulary import PersonStatus

TABLE = "people"
PURPOSE = re.compile(r"^[a-z][a-z0-9-]{1,79}$")


@dataclass
class PersonView:
    id: uuid.UUID
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime
    row_version: int
    fields: dict[str, str | None]


@dataclass
class BulkResult:
    created: list[uuid.UUID] = field(default_factory=list)
    duplicates: dict[int, uuid.UUID | None] = field(default_factory=dict)  # row -> existing id
    invalid: dict[int, list[dict[str, Any]]] = field(default_factory=dict)


def _check_purpose(purpose: str) -> str:
    if not isinstance(purpose, str) or not PURPOSE.match(purpose):
        raise InvalidInput(
            [
                {
                    "field": "purpose",
                    "problem": "must be a purpose key such as 'ticketing-service'",
                    "type": "value_error",
                }
            ]
        )
    return purpose


class PeopleService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.cluster = uow.cluster
        self.repo = PeopleRepository(uow.session)
        self.key_repo = KeyStoreRepository(uow.key_session)
        self.audit = AuditLog(uow.session, uow.cluster)

    # -- helpers -------------------------------------------------------------------------------
    def _seal(self, pid: uuid.UUID, values: PersonFields) -> tuple[dict[str, Any], dict[str, Any]]:
        rt = self.uow.rt
        data_key = new_data_key()
        kek_version = rt.keys.current_kek_version()
        wrapped = rt.keys.wrap_data_key(data_key, pid.bytes, kek_version)
        sealed = FieldCipher(data_key, self.cluster).seal_many(values.present(), TABLE, pid)
        row: dict[str, Any] = {f"{name}_ct": sealed.get(name) for name in PERSON_FIELDS}
        row.update(self._indexes(values))
        now = utcnow()
        row.update(id=pid, status=PersonStatus.ACTIVE, row_version=1, created_at=now, updated_at=now)
        key_row = {"person_id": pid, "kek_version": kek_version, "wrapped_key": wrapped, "created_at": now}
        return row, key_row

    def _indexes(self, values: PersonFields) -> dict[str, bytes | None]:
        """Blind indexes of validated fields (PersonFields already normalised the address)."""
        indexer = self.uow.rt.indexer
        return {
            "email_bidx": indexer.email(email_index_form(values.email)) if values.email else None,
            "phone_bidx": indexer.phone(values.phone) if values.phone else None,
            "language_bidx": indexer.index(LANGUAGE_INDEX, language_form(values.language)) if values.language else None,
            "postal_area_bidx": (
                indexer.index(POSTAL_AREA_INDEX, postal_area_form(values.postal_code, values.country))
                if values.postal_code
                else None
            ),
        }

    def email_index(self, email: str) -> bytes:
        try:
            return self.uow.rt.indexer.email(normalise_email(email)[1])
        except ValueError:
            raise InvalidInput(
                [{"field": "email", "problem": "Value error, is not a valid e-mail address", "type": "value_error"}]
            ) from None

    # -- writes --------------------------------------------------------------------------------
    def create(self, actor: Actor, data: dict[str, Any] | PersonFields) -> uuid.UUID:
        require_people_writer(actor)
        values = validate_fields(data, phone_region=self.uow.rt.phone_region)
        pid = new_uuid()
        row, key_row = self._seal(pid, values)
        if row["email_bidx"] is not None:
            existing = self.repo.id_by_email_index(row["email_bidx"])
            if existing is not None:
                raise EmailTaken({"message": "a person with this e-mail address exists", "person_id": str(existing)})
        self.audit.append(actor, AuditRecord("people.create", [pid], sorted(values.present())))
        self.repo.insert_many([row])
        self.key_repo.insert_many([key_row])
        return pid

    def bulk_create(
        self, actor: Actor, rows: Sequence[dict[str, Any] | PersonFields], *, skip_invalid: bool = False
    ) -> BulkResult:
        """Create many people in one transaction (imports). Rows whose e-mail already exists, in the
        cluster or earlier in the batch, are reported as duplicates and not created."""
        require_people_writer(actor)
        result = BulkResult()
        region = self.uow.rt.phone_region
        valid: list[tuple[int, PersonFields]] = []
        for i, data in enumerate(rows):
            try:
                valid.append((i, validate_fields(data, phone_region=region, row=i)))
            except InvalidInput as exc:
                problems = (
                    exc.detail if isinstance(exc.detail, list) else [{"field": str(i), "problem": str(exc.detail)}]
                )
                result.invalid[i] = list(problems)
        if result.invalid and not skip_invalid:
            # the shape of every 422: one list of problems, each field starting with its row's index
            raise InvalidInput([problem for problems in result.invalid.values() for problem in problems])
        sealed: list[tuple[int, dict[str, Any], dict[str, Any], list[str]]] = []
        for i, values in valid:
            pid = new_uuid()
            row, key_row = self._seal(pid, values)
            sealed.append((i, row, key_row, sorted(values.present())))
        indexes = [r["email_bidx"] for _, r, _, _ in sealed if r["email_bidx"] is not None]
        existing = self.repo.ids_by_email_indexes(indexes) if indexes else {}
        seen: dict[bytes, uuid.UUID] = {}
        people_rows: list[dict[str, Any]] = []
        key_rows: list[dict[str, Any]] = []
        fields_used: set[str] = set()
        for i, row, key_row, names in sealed:
            bidx = row["email_bidx"]
            if bidx is not None:
                if bidx in existing:
                    result.duplicates[i] = existing[bidx]
                    continue
                if bidx in seen:
                    result.duplicates[i] = seen[bidx]
                    continue
                seen[bidx] = row["id"]
            people_rows.append(row)
            key_rows.append(key_row)
            fields_used.update(names)
            result.created.append(row["id"])
        if people_rows:
            self.audit.append(
                actor,
                AuditRecord(
                    "people.create",
                    result.created,
                    sorted(fields_used),
                    detail={
                        "bulk": True,
                        "count": len(result.created),
                        "duplicates": len(result.duplicates),
                        "invalid": len(result.invalid),
                    },
                ),
            )
            self.repo.insert_many(people_rows)
            self.key_repo.insert_many(key_rows)
        return result

    def update(self, actor: Actor, person_id: uuid.UUID, changes: dict[str, Any]) -> int:
        """Replace the given fields (``None`` clears one). Returns the new row version."""
        require_people_writer(actor)
        unknown = sorted(set(changes) - set(PERSON_FIELDS))
        if unknown:
            raise InvalidInput([{"field": k, "problem": "unknown field", "type": "extra_forbidden"} for k in unknown])
        values = validate_fields(changes, phone_region=self.uow.rt.phone_region)
        # a restricted person may be rectified: contested accuracy is a common reason to restrict
        person = self._not_erased(person_id)
        self.audit.append(actor, AuditRecord("people.update", [person_id], sorted(changes)))
        cipher = self.cipher(person_id)
        present = values.present()
        new: dict[str, Any] = {}
        for name in changes:
            new[f"{name}_ct"] = cipher.seal(present[name], TABLE, name, person_id) if name in present else None
        idx = self._indexes(values)
        if "email" in changes:
            if idx["email_bidx"] is not None:
                other = self.repo.id_by_email_index(idx["email_bidx"])
                if other is not None and other != person_id:
                    raise EmailTaken({"message": "a person with this e-mail address exists", "person_id": str(other)})
            new["email_bidx"] = idx["email_bidx"]
        if "phone" in changes:
            new["phone_bidx"] = idx["phone_bidx"]
        if "language" in changes:
            new["language_bidx"] = idx["language_bidx"]
        if "postal_code" in changes or "country" in changes:
            # the area needs both fields: recompute from what the update leaves in place
            new["postal_area_bidx"] = idx["postal_area_bidx"] if "postal_code" in changes else person.postal_area_bidx
        new["row_version"] = person.row_version + 1
        new["updated_at"] = utcnow()
        self.repo.update_row(person_id, new)
        return int(new["row_version"])

    # -- the person's own steps of the data-subject requests (rights/service.py orders them with
    # the other domains' steps) ----------------------------------------------------------------
    def open_erasure(self, actor: Actor, person_id: uuid.UUID, *, reference: str | None = None) -> Person | None:
        """Check and audit an erasure: the person to erase, or None when already erased (nothing
        is audited then). The ``people.erase`` entry covers the address read before the key goes."""
        require_people_writer(actor, person_id)
        detail = reference_detail(reference)  # before the person is looked at: a no-op repeat is refused alike
        person = self.repo.get_for_update(person_id)
        if person is None:
            raise PersonNotFound("no such person")
        if person.status == PersonStatus.ERASED:
            return None
        self.audit.append(actor, AuditRecord("people.erase", [person_id], list(PERSON_FIELDS), detail=detail))
        return person

    def email_before_erasure(self, person: Person) -> str | None:
        """The last moment the address can be read (covered by the ``people.erase`` entry)."""
        if person.email_ct is None:
            return None
        return self.cipher(person.id).open(bytes(person.email_ct), TABLE, "email", person.id)

    def shred(self, person: Person, now: dt.datetime) -> None:
        """Crypto-shred: keep a suppression entry (e-mail blind index and date only), delete the
        wrapped data key and the person's access keys."""
        if person.email_bidx is not None:
            self.repo.suppress(bytes(person.email_bidx), now.date())
        self.key_repo.delete(person.id)
        access_keys.forget_person(self.uow.session, person.id)

    def mark_erased(self, person_id: uuid.UUID, now: dt.datetime) -> None:
        """Drop the ciphertexts and the blind indexes; the row says ``erased`` from now on."""
        values: dict[str, Any] = {f"{name}_ct": None for name in PERSON_FIELDS}
        values.update(
            status=PersonStatus.ERASED,
            email_bidx=None,
            phone_bidx=None,
            language_bidx=None,
            postal_area_bidx=None,
            erased_at=now,
            updated_at=now,
        )
        self.repo.update_row(person_id, values)

    def open_restriction(self, actor: Actor, person_id: uuid.UUID, *, reference: str | None = None) -> bool:
        """Check and audit a restriction: False when already restricted (nothing audited). An
        erased person cannot be restricted."""
        require_people_writer(actor)
        detail = reference_detail(reference)
        person = self._not_erased(person_id)
        if person.status == PersonStatus.RESTRICTED:
            return False
        self.audit.append(actor, AuditRecord("people.restrict", [person_id], detail=detail))
        return True

    def mark_restricted(self, person_id: uuid.UUID) -> None:
        """No house sees the person any more: their access keys go (``visible`` requires an active
        person) and the row says ``restricted``."""
        access_keys.forget_person(self.uow.session, person_id)
        self.repo.update_row(person_id, {"status": PersonStatus.RESTRICTED, "updated_at": utcnow()})

    def reactivate(self, actor: Actor, person_id: uuid.UUID, *, reference: str | None = None) -> bool:
        """Check, audit and apply the end of a restriction: the person is active again and their
        access keys are rebuilt from their relations and granted consent states. False when the
        person was not restricted (nothing audited)."""
        require_people_writer(actor)
        detail = reference_detail(reference)
        person = self._not_erased(person_id)
        if person.status != PersonStatus.RESTRICTED:
            return False
        self.audit.append(actor, AuditRecord("people.lift-restriction", [person_id], detail=detail))
        self.repo.update_row(person_id, {"status": PersonStatus.ACTIVE, "updated_at": utcnow()})
        access_keys.rebuild_person(self.uow.session, person_id)
        return True

    def reindex_coarse(self, actor: Actor, *, batch: int = 1000) -> int:
        """Fill the language and postal-area indexes of people created before they existed (an
        audited read of those three fields). Returns how many people were indexed."""
        require_people_writer(actor)
        ids = self.repo.missing_coarse_indexes(batch)
        if not ids:
            return 0
        views = self.read(actor, ids, purpose="index-maintenance", fields=["language", "postal_code", "country"])
        for view in views:
            values = PersonFields.model_validate(view.fields)
            idx = self._indexes(values)
            self.repo.update_row(
                view.id, {"language_bidx": idx["language_bidx"], "postal_area_bidx": idx["postal_area_bidx"]}
            )
        return len(views)

    def is_suppressed(self, email: str) -> bool:
        return self.repo.is_suppressed(self.email_index(email))

    # -- reads (the one decryption path) -------------------------------------------------------
    def read(
        self,
        actor: Actor,
        person_ids: Sequence[uuid.UUID],
        *,
        purpose: str,
        fields: Sequence[str] | None = None,
    ) -> list[PersonView]:
        require_people_reader(actor)
        _check_purpose(purpose)
        wanted = list(PERSON_FIELDS) if fields is None else list(dict.fromkeys(fields))
        bad = [f for f in wanted if f not in PERSON_FIELDS]
        if bad:
            raise InvalidInput(
                [{"field": "fields", "problem": f"unknown field {f!r}", "type": "value_error"} for f in bad]
            )
        return self._decrypt(actor, person_ids, purpose=purpose, wanted=wanted)

    def read_visible(
        self, actor: Actor, person_id: uuid.UUID, *, purpose: str, fields: Sequence[str], detail: dict[str, Any]
    ) -> PersonView:
        """For the access service only, after it established that ``person_id`` is visible to the
        actor for ``purpose`` and which fields that allows."""
        views = self._decrypt(actor, [person_id], purpose=purpose, wanted=list(fields), detail=detail)
        if not views:
            raise PersonNotFound("no such person")
        return views[0]

    def read_members(
        self,
        actor: Actor,
        person_ids: Sequence[uuid.UUID],
        *,
        purpose: str,
        fields: Sequence[str],
        action: str,
        detail: dict[str, Any],
    ) -> list[PersonView]:
        """For the audience service only, after one SQL statement established that every one of
        ``person_ids`` is visible to the actor for ``purpose`` and which fields that allows.
        The read's audit entry is the caller's ``action`` (an export names its members, fields
        and purpose once, not once as the export and again as a read)."""
        if not person_ids:
            return []
        return self._decrypt(actor, person_ids, purpose=purpose, wanted=list(fields), action=action, detail=detail)

    def read_own(
        self, actor: Actor, person_id: uuid.UUID, *, fields: Sequence[str] | None = None, detail: dict[str, Any]
    ) -> PersonView:
        """A buyer's own profile on their own pages (issue 14): audited like every read, the buyer
        as actor; a restricted person still sees their data (restriction stops processing, not access)."""
        if not actor.is_person(person_id):
            raise Forbidden("only the person themselves reads their data this way")
        wanted = list(PERSON_FIELDS) if fields is None else list(fields)
        views = self._decrypt(
            actor,
            [person_id],
            purpose="data-subject-request",
            wanted=wanted,
            detail=detail,
            readable_statuses=RECORDED_STATUSES,
        )
        if not views:
            raise PersonNotFound("no such person")
        return views[0]

    def read_for_restriction(self, actor: Actor, person_ids: Sequence[uuid.UUID], *, purpose: str) -> list[PersonView]:
        """For the outbox and reconciliation only: the address a destination needs to archive a
        restricted person. Carrying out the restriction is the one use of a restricted person's
        data besides storing it; the read is audited like any other."""
        require_people_reader(actor)
        _check_purpose(purpose)
        if not person_ids:
            return []
        return self._decrypt(
            actor,
            person_ids,
            purpose=purpose,
            wanted=["email"],
            detail={"restriction": True},
            readable_statuses=RECORDED_STATUSES,
        )

    def _decrypt(
        self,
        actor: Actor,
        person_ids: Sequence[uuid.UUID],
        *,
        purpose: str,
        wanted: list[str],
        action: str = "people.read",
        detail: dict[str, Any] | None = None,
        readable_statuses: tuple[str, ...] = (PersonStatus.ACTIVE,),
    ) -> list[PersonView]:
        """The one path that decrypts a person's fields: audit first, then unwrap and open."""
        ids = list(dict.fromkeys(person_ids))
        rows = self.repo.ciphertexts(ids, [f"{name}_ct" for name in wanted])
        readable = [pid for pid in ids if pid in rows and rows[pid][1] in readable_statuses]
        if not readable:
            raise PersonNotFound("no such person") if len(ids) == 1 else PersonNotFound("none of these people exist")
        # recorded before any key is unwrapped: a read that cannot be audited does not happen
        self.audit.append(actor, AuditRecord(action, readable, wanted, purpose=purpose, detail=detail or {}))
        keys = self.key_repo.wrapped(readable)
        unwrap = self.uow.rt.keys.unwrap_data_key
        cluster = self.cluster
        views: list[PersonView] = []
        for pid in readable:
            key = keys.get(pid)
            if key is None:  # an erasure whose second half did not commit yet: as good as erased
                continue
            row = rows[pid]
            cipher = FieldCipher(unwrap(key[0], pid.bytes, key[1]), cluster)
            out = cipher.open_many(zip(wanted, row[5:], strict=True), TABLE, pid)
            views.append(PersonView(pid, row[1], row[2], row[3], row[4], out))
        return views

    def get(
        self, actor: Actor, person_id: uuid.UUID, *, purpose: str, fields: Sequence[str] | None = None
    ) -> PersonView:
        person = self.repo.get(person_id)
        if person is not None and person.status == PersonStatus.ERASED:
            require_people_reader(actor)
            raise ErasedPerson("this person was erased")
        views = self.read(actor, [person_id], purpose=purpose, fields=fields)
        if not views:
            raise ErasedPerson("this person was erased")
        return views[0]

    def lookup_by_email(
        self, actor: Actor, email: str, *, purpose: str, fields: Sequence[str] | None = None
    ) -> PersonView | None:
        """The person with this e-mail address, or None. A miss is audited too (someone searched
        for an address); it returns instead of raising so that the caller's commit keeps it."""
        require_people_reader(actor)
        _check_purpose(purpose)
        pid = self.id_by_email(email)
        if pid is None:
            self.audit.append(
                actor, AuditRecord("people.lookup", [], ["email"], purpose=purpose, detail={"found": False})
            )
            return None
        return self.get(actor, pid, purpose=purpose, fields=fields)

    # -- the request desk (issue 15): a person by address without decrypting anyone, and the
    # address a request's mails go to ------------------------------------------------------------
    def person_for_request(self, actor: Actor, email: str) -> uuid.UUID | None:
        """The person with this address through the blind index (nothing decrypted), or None.
        Audited either way, like a lookup; an erased person's address finds nobody."""
        require_request_registrar(actor)
        pid = self.id_by_email(email)
        self.audit.append(
            actor,
            AuditRecord(
                "people.find-for-request",
                [pid] if pid else [],
                ["email"],
                purpose="data-subject-request",
                detail={"found": pid is not None},
            ),
        )
        return pid

    def id_by_email(self, email: str) -> uuid.UUID | None:
        """The id of the person with this address, through the blind index (nothing decrypted).
        Not audited here: each caller's own entry names what was searched (the request desk's
        find, the DPO's audit search). Raises InvalidInput for a malformed address."""
        return self.repo.id_by_email_index(self.email_index(email))

    def status_of(self, person_id: uuid.UUID) -> str | None:
        person = self.repo.get(person_id)
        return None if person is None else person.status

    def address_for_request(self, actor: Actor, person_id: uuid.UUID, *, reference: str) -> str | None:
        """The address the mails of request ``reference`` go to: one audited read of the e-mail
        field (purpose data-subject-request); a restricted person is still answered. None when
        the person has no address or is erased."""
        require_request_registrar(actor)
        try:
            views = self._decrypt(
                actor,
                [person_id],
                purpose="data-subject-request",
                wanted=["email"],
                detail={"request": reference},
                readable_statuses=RECORDED_STATUSES,
            )
        except PersonNotFound:
            return None
        return views[0].fields.get("email") if views else None

    def find_by_email(
        self, actor: Actor, email: str, *, purpose: str, fields: Sequence[str] | None = None
    ) -> PersonView:
        """Like ``lookup_by_email`` but raises PersonNotFound (which rolls back the miss's audit entry
        with the rest of the unit of work)."""
        view = self.lookup_by_email(actor, email, purpose=purpose, fields=fields)
        if view is None:
            raise PersonNotFound("no such person")
        return view

    def ciphers(self, person_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, FieldCipher]:
        """Field ciphers of many people at once (imports sealing consent evidence); erased people
        are left out. Whoever opens a ciphertext with one must audit the read."""
        keys = self.key_repo.wrapped(list(dict.fromkeys(person_ids)))
        unwrap = self.uow.rt.keys.unwrap_data_key
        return {pid: FieldCipher(unwrap(bytes(key[0]), pid.bytes, key[1]), self.cluster) for pid, key in keys.items()}

    # -- internals -----------------------------------------------------------------------------
    def _not_erased(self, person_id: uuid.UUID) -> Person:
        """The person, row-locked (a restriction or its lift changes their status)."""
        person = self.repo.get_for_update(person_id)
        if person is None:
            raise PersonNotFound("no such person")
        if person.status == PersonStatus.ERASED:
            raise ErasedPerson("this person was erased")
        return person

    def cipher(self, person_id: uuid.UUID) -> FieldCipher:
        """The person's field cipher (for data sealed with their key, e.g. consent evidence).
        Whoever opens a ciphertext with it must audit the read."""
        key = self.key_repo.wrapped([person_id]).get(person_id)
        if key is None:
            raise ErasedPerson("this person was erased")
        data_key = self.uow.rt.keys.unwrap_data_key(bytes(key[0]), person_id.bytes, key[1])
        return FieldCipher(data_key, self.cluster)
