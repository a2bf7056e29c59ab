"""Core vault: houses, API clients, encrypted people, suppressions, hash-chained audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY = ("audit_entries", "audit_subjects", "audit_checkpoints", "suppressions")

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION consent_hub_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def seq_type() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "houses",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("slug", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("tixly_organisation_id", sa.String(64)),
        sa.Column("ticketmatic_account", sa.String(64)),
        sa.Column("uitdatabank_organizer_id", sa.String(64)),
        ts("created_at"),
        sa.UniqueConstraint("slug", name="uq_houses_slug"),
    )
    op.create_table(
        "api_clients",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("key_id", sa.String(24), nullable=False),
        sa.Column("key_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("house_id", sa.Uuid(), sa.ForeignKey("houses.id", name="fk_api_clients_house_id_houses")),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("agreement_ref", sa.String(200), nullable=False),
        ts("expires_at"),
        ts("created_at"),
        ts("revoked_at", nullable=True),
        sa.UniqueConstraint("key_id", name="uq_api_clients_key_id"),
    )
    ct = [
        sa.Column(f"{name}_ct", sa.LargeBinary())
        for name in (
            "given_name",
            "family_name",
            "email",
            "phone",
            "street_address",
            "postal_code",
            "city",
            "country",
            "birth_date",
            "language",
        )
    ]
    op.create_table(
        "people",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("email_bidx", sa.LargeBinary(32)),
        sa.Column("phone_bidx", sa.LargeBinary(32)),
        *ct,
        sa.Column("row_version", sa.Integer(), nullable=False),
        ts("created_at"),
        ts("updated_at"),
        ts("erased_at", nullable=True),
        sa.UniqueConstraint("email_bidx", name="uq_people_email_bidx"),
    )
    op.create_index("ix_people_status", "people", ["status"])
    op.create_index("ix_people_phone_bidx", "people", ["phone_bidx"])
    op.create_table(
        "suppressions",
        sa.Column("email_bidx", sa.LargeBinary(32), primary_key=True),
        sa.Column("suppressed_on", sa.Date(), nullable=False),
    )
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": b"\x00" * 32}])
    op.create_table(
        "audit_entries",
        sa.Column("seq", seq_type(), primary_key=True, autoincrement=False),
        ts("at"),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("house", sa.String(40)),
        sa.Column("role", sa.String(40)),
        sa.Column("purpose", sa.String(80)),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("subjects", sa.Text(), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_index("ix_audit_entries_action", "audit_entries", ["action"])
    op.create_table(
        "audit_subjects",
        sa.Column("person_id", sa.Uuid(), primary_key=True),
        sa.Column("seq", seq_type(), primary_key=True),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", seq_type(), primary_key=True, autoincrement=False),
        sa.Column("head_hash", sa.LargeBinary(32), nullable=False),
        ts("signed_at"),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("signature", sa.LargeBinary(64), nullable=False),
    )

    # The database itself refuses to change history. The audit head may move forward but never
    # be deleted. An attacker with owner rights can drop these triggers; that is what the signed
    # checkpoints are for.
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(PG_FUNCTION)
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION consent_hub_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION consent_hub_append_only()"
            )
        op.execute(
            "CREATE TRIGGER audit_head_keep BEFORE DELETE ON audit_head "
            "FOR EACH ROW EXECUTE FUNCTION consent_hub_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head "
            "FOR EACH STATEMENT EXECUTE FUNCTION consent_hub_append_only()"
        )
    elif dialect == "sqlite":
        for table in APPEND_ONLY:
            for op_name in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{op_name.lower()} BEFORE {op_name} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'table {table} is append-only'); END"
                )
        op.execute(
            "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head "
            "BEGIN SELECT RAISE(ABORT, 'audit_head cannot be deleted'); END"
        )


def downgrade() -> None:
    raise RuntimeError("the core vault cannot be downgraded: it would destroy the audit log")
