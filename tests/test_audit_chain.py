"""The hash-chained audit log: appending, tamper detection, the database's append-only triggers,
signed checkpoints, no personal data in entries, and one entry per decryption.

Every test runs on SQLite and PostgreSQL (the ``hub`` fixture). Tampering is done as an attacker
with owner rights would do it: on SQLite by dropping the append-only triggers, on PostgreSQL by
``SET LOCAL session_replication_role = replica`` (which skips ordinary triggers).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import text

from consent_hub.audit import chain
from consent_hub.audit.repository import AuditRepository
from consent_hub.audit.service import AuditLog, AuditRecord, VerifyReport, verify_chain
from consent_hub.errors import NotFound
from consent_hub.people.fields import PERSON_FIELDS
from consent_hub.people.service import PeopleService
from consent_hub.rights.service import RightsService
from consent_hub.storage.models import AuditCheckpoint, AuditEntry, AuditHead

ENTRIES = AuditEntry.__table__
HEAD = AuditHead.__table__
CHECKPOINTS = AuditCheckpoint.__table__
# the parts of an entry that its hash covers, in encode_entry's order
HASHED = (
    "seq",
    "at",
    "actor",
    "house",
    "role",
    "purpose",
    "action",
    "subjects",
    "fields",
    "detail",
)
PURPOSE = "ticketing-service"

OWN_KEY: Any = object()  # verify with the cluster's own public key

if not hasattr(pytest, "Subtests"):  # pytest < 9 has no built-in `subtests` fixture

    class _Subtests:
        @contextmanager
        def test(self, msg: str | None = None, **kwargs: Any) -> Iterator[None]:
            yield  # a failure ends the whole test (pytest >= 9 reports each subtest)

    @pytest.fixture
    def subtests() -> _Subtests:
        return _Subtests()


# -- helpers --------------------------------------------------------------------------------------
@contextmanager
def attacker(hub: Any, cluster: str = "alpha") -> Iterator[sa.Connection]:
    """One transaction of someone with owner rights on the cluster database who switches off the
    append-only triggers (and, on SQLite, puts them back afterwards so nothing looks unusual)."""
    engine = hub.registry.runtime(cluster).engine
    with engine.begin() as conn:
        restore: list[str] = []
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        else:
            triggers = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")).all()
            assert triggers, "the SQLite append-only triggers are missing"
            for name, sql in triggers:
                conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
                restore.append(sql)
        yield conn
        for sql in restore:
            conn.exec_driver_sql(sql)


def seed(hub: Any, n: int, cluster: str = "alpha") -> list[int]:
    """Append n entries, one transaction each. Returns their sequence numbers (chained once each
    transaction commits)."""
    seqs: list[int] = []
    for i in range(n):
        seqs.append(((head(hub, cluster) or (0, b""))[0]) + 1)
        with hub.uow(cluster) as uow:
            AuditLog(uow.session, cluster).append(
                hub.actor(cluster),
                AuditRecord(
                    "test.event",
                    [uuid.uuid4()],
                    ["email", "given_name"],
                    purpose="testing",
                    detail={"n": i},
                ),
            )
    return seqs


def checkpoint(hub: Any, cluster: str = "alpha") -> AuditCheckpoint | None:
    with hub.uow(cluster) as uow:
        return AuditLog(uow.session, cluster).checkpoint(hub.actor(cluster), uow.rt.keys)


def entries(hub: Any, cluster: str = "alpha") -> list[dict[str, Any]]:
    with hub.uow(cluster) as uow:
        return [row._asdict() for row in AuditRepository(uow.session).stream_entries()]


def head(hub: Any, cluster: str = "alpha") -> tuple[int, bytes] | None:
    with hub.uow(cluster) as uow:
        return AuditRepository(uow.session).read_head()


def verify(hub: Any, cluster: str = "alpha", public_key: Any = OWN_KEY) -> VerifyReport:
    with hub.uow(cluster) as uow:
        key = uow.rt.keys.audit_public_key() if public_key is OWN_KEY else public_key
        return verify_chain(uow.session, cluster, key)


def rechain(rows: list[dict[str, Any]], prev: bytes, cluster: str = "alpha") -> list[dict[str, Any]]:
    """Recompute prev_hash and hash of consecutive rows exactly as AuditLog.append would."""
    tag = chain.chain_tag(cluster)
    for row in rows:
        row["prev_hash"] = prev
        row["hash"] = prev = chain.link(tag, prev, chain.encode_entry(*(row[p] for p in HASHED)))
    return rows


def write_back(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    cols = ("actor", "house", "role", "purpose", "action", "subjects", "fields", "detail", "prev_hash", "hash")
    for row in rows:
        conn.execute(sa.update(ENTRIES).where(ENTRIES.c.seq == row["seq"]).values({c: row[c] for c in cols}))


def assert_fails(report: VerifyReport, seq: int, words: str) -> None:
    assert not report.ok, report
    assert report.first_bad_seq == seq, report
    assert report.problem is not None and words in report.problem, report


def snapshot(hub: Any, table: str, order: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in hub.sql(f"SELECT * FROM {table} ORDER BY {order}")]


# -- appending ------------------------------------------------------------------------------------
def test_appended_entries_verify(hub: Any) -> None:
    before = len(entries(hub))
    seqs = seed(hub, 7)
    with hub.uow() as uow:  # several records in one call, in one transaction
        AuditLog(uow.session, "alpha").append(
            hub.actor(), *(AuditRecord("test.batch", detail={"i": i}) for i in range(5))
        )
    assert seqs == list(range(before + 1, before + 8))

    rows = entries(hub)
    assert [r["seq"] for r in rows] == list(range(1, before + 13))
    for earlier, later in itertools.pairwise(rows):
        assert later["prev_hash"] == earlier["hash"]
    assert rows[0]["prev_hash"] == chain.GENESIS
    assert head(hub) == (before + 12, rows[-1]["hash"])

    report = verify(hub)
    assert report.ok, report
    assert report.entries == before + 12
    assert report.checkpoints == 0
    assert verify(hub, public_key=None).ok

    # the chain tag names the cluster: alpha's entries do not verify as beta's
    with hub.uow("alpha") as uow:
        assert_fails(verify_chain(uow.session, "beta", None), 1, "altered")


# -- tampering ------------------------------------------------------------------------------------
# Each kind of tampering is a scenario that starts from an empty log; the scenarios of one kind
# share a hub (creating a PostgreSQL hub per scenario would be slow) and run as subtests.
N = 8


def reset(hub: Any, cluster: str = "alpha") -> None:
    """Back to an empty audit log (as the attacker, so the triggers do not object)."""
    with attacker(hub, cluster) as conn:
        for table in ("audit_entries", "audit_subjects", "audit_checkpoints"):
            conn.execute(text(f"DELETE FROM {table}"))
        conn.execute(sa.update(HEAD).values(seq=0, hash=chain.GENESIS))
    assert entries(hub, cluster) == [] and head(hub, cluster) == (0, chain.GENESIS)


EDITS: list[tuple[str, Any]] = [
    ("actor", "client:someone-else"),
    ("subjects", json.dumps([str(uuid.UUID(int=7))])),
    ("fields", "[]"),
    ("purpose", "marketing"),
    ("action", "people.create"),
    ("detail", '{"n":99}'),
    ("role", "cluster-dpo"),
    ("house", "some-house"),
    ("hash", b"\x01" * 32),
    ("prev_hash", b"\x02" * 32),
]


def test_edited_entry_is_named(hub: Any, subtests: Any) -> None:
    k = 4
    for column, value in EDITS:
        with subtests.test(column=column):
            reset(hub)
            seed(hub, N)
            with attacker(hub) as conn:
                conn.execute(sa.update(ENTRIES).where(ENTRIES.c.seq == k).values({column: value}))
            words = "does not link" if column == "prev_hash" else "altered"
            assert_fails(verify(hub), k, words)
    with subtests.test(column="at"):
        reset(hub)
        seed(hub, N)
        moved = entries(hub)[k - 1]["at"] - dt.timedelta(days=1)
        with attacker(hub) as conn:
            conn.execute(sa.update(ENTRIES).where(ENTRIES.c.seq == k).values(at=moved))
        assert_fails(verify(hub), k, "altered")


def test_deleted_entry_is_named(hub: Any, subtests: Any) -> None:
    k = 3
    with subtests.test("deleted, gap left"):
        reset(hub)
        seed(hub, N)
        with attacker(hub) as conn:
            conn.execute(sa.delete(ENTRIES).where(ENTRIES.c.seq == k))
        assert_fails(verify(hub), k, "missing")
    with subtests.test("deleted, later entries renumbered -1 to close the gap"):
        reset(hub)
        seed(hub, N)
        with attacker(hub) as conn:
            conn.execute(sa.delete(ENTRIES).where(ENTRIES.c.seq == k))
            conn.execute(text("UPDATE audit_entries SET seq = -seq WHERE seq > :k"), {"k": k})
            conn.execute(text("UPDATE audit_entries SET seq = -seq - 1 WHERE seq < 0"))
            conn.execute(sa.update(HEAD).values(seq=N - 1))
        assert [r["seq"] for r in entries(hub)] == list(range(1, N))
        assert_fails(verify(hub), k, "does not link")


def test_inserted_entry_is_named(hub: Any) -> None:
    """Later entries renumbered +1 and a forged entry put at k, correctly linked to k-1 and with a
    correct hash of its own: the forgery itself verifies, the entry after it does not link."""
    seed(hub, N)
    k = 4
    before = entries(hub)
    forged = dict(before[k - 2])  # a copy of entry k-1, turned into entry k
    forged.update(seq=k, actor="client:forger", action="people.read", detail='{"note":"nothing to see"}')
    rechain([forged], before[k - 2]["hash"])
    with attacker(hub) as conn:
        for table in ("audit_entries", "audit_subjects"):
            conn.execute(text(f"UPDATE {table} SET seq = -seq - 1 WHERE seq >= :k"), {"k": k})
            conn.execute(text(f"UPDATE {table} SET seq = -seq WHERE seq < 0"))
        conn.execute(sa.insert(ENTRIES).values(forged))
        conn.execute(sa.update(HEAD).values(seq=N + 1))

    rows = entries(hub)
    assert [r["seq"] for r in rows] == list(range(1, N + 2))
    assert rows[k - 1]["actor"] == "client:forger"
    assert rows[k]["hash"] == before[k - 1]["hash"]  # the old entry k, now k+1
    assert_fails(verify(hub), k + 1, "does not link")


def swap_rows(conn: sa.Connection, i: int, j: int) -> None:
    conn.execute(text("UPDATE audit_entries SET seq = -1 WHERE seq = :i"), {"i": i})
    conn.execute(text("UPDATE audit_entries SET seq = :i WHERE seq = :j"), {"i": i, "j": j})
    conn.execute(text("UPDATE audit_entries SET seq = :j WHERE seq = -1"), {"j": j})


def test_reordered_entries_are_named(hub: Any, subtests: Any) -> None:
    """Two entries change places: whole rows (sequence numbers swapped), or only their contents
    under unchanged sequence numbers and hashes. The earlier position is named."""
    for i, j in ((3, 6), (5, 6)):
        with subtests.test("rows swapped", i=i, j=j):
            reset(hub)
            seed(hub, N)
            with attacker(hub) as conn:
                swap_rows(conn, i, j)
            assert [r["seq"] for r in entries(hub)] == list(range(1, N + 1))
            assert_fails(verify(hub), i, "does not link")
    with subtests.test("contents swapped"):
        reset(hub)
        seed(hub, N)
        i, j = 2, 7
        rows = {r["seq"]: r for r in entries(hub)}
        with attacker(hub) as conn:
            for a, b in ((i, j), (j, i)):
                conn.execute(
                    sa.update(ENTRIES)
                    .where(ENTRIES.c.seq == a)
                    .values(detail=rows[b]["detail"], subjects=rows[b]["subjects"])
                )
        assert_fails(verify(hub), i, "altered")


def test_cut_tail_is_named(hub: Any, subtests: Any) -> None:
    k = 5
    with subtests.test("tail deleted: caught by the audit head"):
        reset(hub)
        seed(hub, N)
        with attacker(hub) as conn:
            conn.execute(sa.delete(ENTRIES).where(ENTRIES.c.seq > k))
        report = verify(hub)
        assert_fails(report, k + 1, "tail was removed")
        assert report.entries == k

    with subtests.test("tail deleted, head count moved back but not its hash"):
        reset(hub)
        seed(hub, N)
        with attacker(hub) as conn:
            conn.execute(sa.delete(ENTRIES).where(ENTRIES.c.seq > k))
            conn.execute(sa.update(HEAD).values(seq=k))
        assert_fails(verify(hub), k, "does not match the chain head")

    with subtests.test("tail deleted, head moved back consistently: caught by a checkpoint"):
        # The chain is then self-consistent; only the signed checkpoint beyond the cut catches
        # it. The report names exactly the entries the signature covers that are gone.
        reset(hub)
        seed(hub, 4)
        cp1 = checkpoint(hub)  # signs 1..4; its own entry is 5
        seed(hub, 4)  # 6..9
        cp2 = checkpoint(hub)  # signs 1..9; entry 10
        seed(hub, 2)  # 11, 12
        assert cp1 is not None and cp2 is not None
        assert (cp1.seq, cp2.seq) == (4, 9)
        assert verify(hub).ok
        cut = 7
        kept = entries(hub)[:cut]
        with attacker(hub) as conn:
            conn.execute(sa.delete(ENTRIES).where(ENTRIES.c.seq > cut))
            conn.execute(sa.update(HEAD).values(seq=cut, hash=kept[-1]["hash"]))
        assert verify(hub, public_key=None).ok  # the forgery is internally consistent
        report = verify(hub)
        assert_fails(report, cut + 1, f"entries {cut + 1}..{cp2.seq} are missing")


REWRITES = [
    (2, 1),  # before the first checkpoint: no entry is vouched for any more
    (6, 4),  # between the checkpoints: named from the entry after checkpoint 3
    (8, 4),  # the last signed entry itself
    (10, None),  # after the last checkpoint: undetectable until the next checkpoint
]


def test_full_rewrite_is_caught_only_by_an_earlier_checkpoint(hub: Any, subtests: Any) -> None:
    """Entry k altered and every later hash recomputed, head included: every link holds, so only
    a signed checkpoint taken before the rewrite (covering k) catches it. The report names the
    first entry after the last checkpoint that still matches, which is <= k."""
    for k, expected in REWRITES:
        with subtests.test(k=k, expected=expected):
            reset(hub)
            seed(hub, 3)
            cp1 = checkpoint(hub)  # signs 1..3; entry 4
            seed(hub, 4)  # 5..8
            cp2 = checkpoint(hub)  # signs 1..8; entry 9
            seed(hub, 3)  # 10..12
            assert cp1 is not None and cp2 is not None
            assert (cp1.seq, cp2.seq) == (3, 8)

            rows = entries(hub)
            tail = [dict(r) for r in rows[k - 1 :]]
            tail[0]["actor"] = "client:forger"
            tail[0]["subjects"] = "[]"
            rechain(tail, rows[k - 2]["hash"])
            with attacker(hub) as conn:
                write_back(conn, tail)
                conn.execute(sa.update(HEAD).values(hash=tail[-1]["hash"]))

            assert entries(hub)[k - 1]["actor"] == "client:forger"
            assert verify(hub, public_key=None).ok  # no link is broken
            report = verify(hub)
            if expected is None:
                assert report.ok, report
                continue
            assert_fails(report, expected, "rewritten")
            assert report.first_bad_seq is not None and report.first_bad_seq <= k


# -- the database refuses changes to history ------------------------------------------------------
def test_database_refuses_update_delete_truncate(hub: Any) -> None:
    hub.issue_key("cluster-service")
    with hub.uow() as uow:
        PeopleService(uow).create(hub.actor(), {"email": "tamsin.reedwold@example.org"})
    seed(hub, 3)
    assert checkpoint(hub) is not None
    tables = {
        "audit_entries": "seq",
        "audit_subjects": "seq, person_id",
        "audit_checkpoints": "seq",
        "audit_head": "id",
    }
    before = {t: snapshot(hub, t, o) for t, o in tables.items()}
    statements = [
        "UPDATE audit_entries SET actor = 'client:someone-else' WHERE seq = 2",
        "UPDATE audit_entries SET seq = seq + 100",
        "DELETE FROM audit_entries WHERE seq = 2",
        "DELETE FROM audit_entries",
        "UPDATE audit_subjects SET seq = 1",
        "DELETE FROM audit_subjects",
        "UPDATE audit_checkpoints SET seq = 1",
        "DELETE FROM audit_checkpoints",
        "DELETE FROM audit_head",
    ]
    if hub.backend == "postgresql":
        statements += [
            "TRUNCATE audit_entries",
            "TRUNCATE audit_subjects",
            "TRUNCATE audit_checkpoints",
            "TRUNCATE audit_head",
        ]
    for statement in statements:
        with pytest.raises(sa.exc.DBAPIError, match=r"append-only|cannot be deleted"):
            hub.sql(statement)
    assert {t: snapshot(hub, t, o) for t, o in tables.items()} == before
    assert verify(hub).ok


# -- signed checkpoints ---------------------------------------------------------------------------
def test_checkpoints(hub: Any, subtests: Any) -> None:
    with subtests.test("signing"):
        assert checkpoint(hub) is None  # nothing to sign yet
        seed(hub, 5)
        head_before = head(hub)
        cp = checkpoint(hub)
        assert cp is not None and head_before is not None
        assert cp.seq == 5 and bytes(cp.head_hash) == head_before[1]
        public = hub.registry.runtime("alpha").keys.audit_public_key()
        assert cp.key_id == chain.key_id(public.public_bytes(Encoding.Raw, PublicFormat.Raw))
        public.verify(bytes(cp.signature), chain.checkpoint_note("alpha", 5, head_before[1]))
        last = entries(hub)[-1]
        assert (last["seq"], last["action"]) == (6, "audit.checkpoint")
        assert json.loads(last["detail"]) == {"checkpoint_seq": 5}
        report = verify(hub)
        assert report.ok, report
        assert (report.entries, report.checkpoints) == (6, 1)

    for column in ("signature", "head_hash"):
        with subtests.test("checkpoint altered", column=column):
            reset(hub)
            seed(hub, 3)
            cp1 = checkpoint(hub)  # 3; entry 4
            seed(hub, 2)  # 5, 6
            cp2 = checkpoint(hub)  # 6; entry 7
            assert cp1 is not None and cp2 is not None
            value = bytearray(bytes(getattr(cp2, column)))
            value[0] ^= 0x01
            with attacker(hub) as conn:
                conn.execute(sa.update(CHECKPOINTS).where(CHECKPOINTS.c.seq == cp2.seq).values({column: bytes(value)}))
            assert verify(hub, public_key=None).ok  # the chain itself is intact
            assert_fails(verify(hub), cp1.seq + 1, "invalid signature")

    beta_keys = hub.registry.runtime("beta").keys
    with subtests.test("verified with cluster beta's public key"):
        reset(hub)
        seed(hub, 3)
        assert checkpoint(hub) is not None
        assert verify(hub).ok
        assert_fails(verify(hub, public_key=beta_keys.audit_public_key()), 1, "unknown key")

    with subtests.test("key id relabelled as beta's, verified with beta's key"):
        raw = beta_keys.audit_public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        with attacker(hub) as conn:
            conn.execute(sa.update(CHECKPOINTS).values(key_id=chain.key_id(raw)))
        assert_fails(verify(hub, public_key=beta_keys.audit_public_key()), 1, "invalid signature")
        assert_fails(verify(hub), 1, "unknown key")


# -- no personal data in the audit log ------------------------------------------------------------
PEOPLE = [
    {
        "given_name": "Ysolde",
        "family_name": "Brackenfurrow",
        "email": "ysolde.brackenfurrow@example.org",
        "city": "Ghent",
    },
    {"given_name": "Corvin", "family_name": "Thistlewaite", "email": "corvin.t@example.org"},
    {"given_name": "Maelis", "family_name": "Quenneville-Orrin", "email": "m.qo@example.org"},
]


def test_entries_hold_no_personal_data(hub: Any) -> None:
    actor = hub.actor()
    with hub.uow() as uow:
        first = PeopleService(uow).create(actor, PEOPLE[0])
    with hub.uow() as uow:
        created = PeopleService(uow).bulk_create(actor, PEOPLE[1:]).created
    ids = [first, *created]
    with hub.uow() as uow:
        svc = PeopleService(uow)
        svc.get(actor, ids[0], purpose=PURPOSE)
        svc.read(actor, ids, purpose="marketing-newsletter", fields=["email", "family_name"])
        svc.find_by_email(actor, PEOPLE[1]["email"].upper(), purpose=PURPOSE)
        svc.update(actor, ids[2], {"given_name": "Maelis-Anne"})
    with pytest.raises(NotFound), hub.uow() as uow:
        PeopleService(uow).find_by_email(actor, "nobody.here@example.org", purpose=PURPOSE)
    with hub.uow() as uow:
        assert RightsService(uow).erase(actor, ids[1], reference="REQ-2026-0042")
    assert checkpoint(hub) is not None

    needles = {"nobody.here", "Maelis-Anne"}
    for person in PEOPLE:
        needles |= {person["email"], person["email"].split("@")[0], person["given_name"], person["family_name"]}
    needles = {n.casefold() for n in needles}

    found = 0
    for table in ("audit_entries", "audit_subjects", "audit_checkpoints", "audit_head"):
        for row in hub.sql(f"SELECT * FROM {table}"):
            for value in row:
                if value is None:
                    continue
                found += 1
                haystack = (
                    bytes(value).decode("latin-1") if isinstance(value, bytes | memoryview) else str(value)
                ).casefold()
                for needle in needles:
                    assert needle not in haystack, f"{table} holds personal data"
    assert found > 50  # the scan really looked at something
    assert verify(hub).ok


# -- every decryption leaves exactly one entry -----------------------------------------------------
def people(hub: Any, n: int = 4) -> list[uuid.UUID]:
    rows = [
        {
            "given_name": f"Persephine{i}",
            "family_name": "Larkspurr",
            "email": f"persephine{i}.larkspurr@example.org",
            "city": "Bruges",
        }
        for i in range(n)
    ]
    with hub.uow() as uow:
        return PeopleService(uow).bulk_create(hub.actor(), rows).created


def new_entries(hub: Any, after: int) -> list[dict[str, Any]]:
    return [e for e in entries(hub) if e["seq"] > after]


def subjects_of(hub: Any, seq: int) -> set[uuid.UUID]:
    rows = hub.sql("SELECT person_id FROM audit_subjects WHERE seq = :s", s=seq)
    return {r[0] if isinstance(r[0], uuid.UUID) else uuid.UUID(str(r[0])) for r in rows}


def assert_read_entry(entry: dict[str, Any], ids: list[uuid.UUID], purpose: str, fields: list[str]) -> None:
    assert entry["action"] == "people.read"
    assert json.loads(entry["subjects"]) == [str(i) for i in ids]
    assert entry["purpose"] == purpose
    assert json.loads(entry["fields"]) == fields
    assert (entry["actor"], entry["role"]) == ("test:operator", "cluster-operator")


def test_every_decryption_leaves_one_entry(hub: Any, subtests: Any) -> None:
    ids = people(hub, 5)
    with hub.uow() as uow:
        RightsService(uow).erase(hub.actor(), ids[4])

    with subtests.test("get"):
        last = len(entries(hub))
        with hub.uow() as uow:
            view = PeopleService(uow).get(hub.actor(), ids[1], purpose=PURPOSE, fields=["email", "given_name", "email"])
        assert list(view.fields) == ["email", "given_name"]
        added = new_entries(hub, last)
        assert len(added) == 1
        assert_read_entry(added[0], [ids[1]], PURPOSE, list(view.fields))
        assert subjects_of(hub, added[0]["seq"]) == {ids[1]}

    with subtests.test("read of many: names exactly the people decrypted"):
        unknown = uuid.UUID(int=12345)
        last = len(entries(hub))
        with hub.uow() as uow:
            views = PeopleService(uow).read(hub.actor(), [*ids, unknown], purpose="box-office-sale")
        readable = ids[:4]  # not the erased one, not the unknown one
        assert [v.id for v in views] == readable
        assert all(list(v.fields) == list(PERSON_FIELDS) for v in views)
        added = new_entries(hub, last)
        assert len(added) == 1
        assert_read_entry(added[0], readable, "box-office-sale", list(PERSON_FIELDS))
        assert subjects_of(hub, added[0]["seq"]) == set(readable)

    with subtests.test("find_by_email"):
        last = len(entries(hub))
        with hub.uow() as uow:
            view = PeopleService(uow).find_by_email(
                hub.actor(), "  Persephine2.LARKSPURR@example.org ", purpose=PURPOSE, fields=["city"]
            )
        assert view.id == ids[2] and view.fields == {"city": "Bruges"}
        added = new_entries(hub, last)
        assert len(added) == 1
        assert_read_entry(added[0], [ids[2]], PURPOSE, ["city"])

    assert verify(hub).ok
