"""The DPO's desk (issue 15): the statuses of a data-subject request as GDPR Art. 12 names them,
how the identity was verified, the reason of a refusal or an extension, the cluster's time zone of
the deadline; one part per controller house that signs it off; DPO console sessions.

Old statuses map onto the new ones: ``completed`` -> ``done``, ``rejected`` -> ``refused``,
``extended`` -> ``in-progress`` (an extension is a due date with a reason, not a status). The
allowed values are written out here (a migration is history). SQLite rebuilds the table to change
its CHECK constraints; no trigger lives on it.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

OLD_STATUSES = ("received", "in-progress", "extended", "completed", "rejected", "withdrawn-by-person")
STATUSES = ("received", "verified", "in-progress", "waiting-for-house", "done", "refused", "withdrawn-by-person")
CHANNELS = ("web", "box-office", "mail", "api")
PART_STATUSES = ("open", "signed-off")
RENAME = "UPDATE data_subject_requests SET status = :new WHERE status = :old"
RENAMED = {"completed": "done", "rejected": "refused", "extended": "in-progress"}


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


NEW_COLUMNS = (
    ("time_zone", sa.String(64)),
    ("verified_at", sa.DateTime(timezone=True)),
    ("verified_by", sa.String(120)),
    ("verification", sa.String(24)),
    ("verification_note", sa.Text()),
    ("refusal_reason", sa.Text()),
    ("extension_mailed_at", sa.DateTime(timezone=True)),
    ("outcome", sa.Text()),
    ("language", sa.String(8)),
)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    table = "data_subject_requests"
    if sqlite:
        op.get_bind().exec_driver_sql("PRAGMA defer_foreign_keys = ON")
        with op.batch_alter_table(table, recreate="always") as batch:
            batch.drop_constraint(op.f("ck_data_subject_requests_status"), type_="check")
            for name, type_ in NEW_COLUMNS:
                batch.add_column(sa.Column(name, type_, nullable=True))
    else:
        op.drop_constraint(op.f("ck_data_subject_requests_status"), table, type_="check")
        for name, type_ in NEW_COLUMNS:
            op.add_column(table, sa.Column(name, type_, nullable=True))
    for old, new in RENAMED.items():
        op.execute(sa.text(RENAME).bindparams(old=old, new=new))
    op.execute(sa.text("UPDATE data_subject_requests SET time_zone = 'UTC' WHERE time_zone IS NULL"))
    op.execute(sa.text("UPDATE data_subject_requests SET language = 'nl' WHERE language IS NULL"))
    if sqlite:
        with op.batch_alter_table(table, recreate="always") as batch:
            batch.alter_column("time_zone", existing_type=sa.String(64), nullable=False, server_default="UTC")
            batch.alter_column("language", existing_type=sa.String(8), nullable=False, server_default="nl")
            batch.create_check_constraint(op.f("ck_data_subject_requests_status"), _in("status", STATUSES))
            batch.create_check_constraint(op.f("ck_data_subject_requests_channel"), _in("channel", CHANNELS))
    else:
        op.alter_column(table, "time_zone", existing_type=sa.String(64), nullable=False, server_default="UTC")
        op.alter_column(table, "language", existing_type=sa.String(8), nullable=False, server_default="nl")
        op.create_check_constraint(op.f("ck_data_subject_requests_status"), table, _in("status", STATUSES))
        op.create_check_constraint(op.f("ck_data_subject_requests_channel"), table, _in("channel", CHANNELS))
    op.create_index("ix_data_subject_requests_house", table, ["house"])

    op.create_table(
        "data_subject_request_parts",
        sa.Column(
            "request_id",
            sa.Uuid(),
            sa.ForeignKey(
                "data_subject_requests.id", name="fk_data_subject_request_parts_request_id_data_subject_requests"
            ),
            primary_key=True,
        ),
        sa.Column("house", sa.String(40), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("signed_off_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("signed_off_by", sa.String(120), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.CheckConstraint(_in("status", PART_STATUSES), name="ck_data_subject_request_parts_status"),
    )
    op.create_index("ix_data_subject_request_parts_house_status", "data_subject_request_parts", ["house", "status"])
    op.create_table(
        "dpo_sessions",
        sa.Column("id_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("house", sa.String(40), nullable=True),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("csrf_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_dpo_sessions_client_id", "dpo_sessions", ["client_id"])


def downgrade() -> None:
    op.drop_table("dpo_sessions")
    op.drop_table("data_subject_request_parts")
    table = "data_subject_requests"
    op.drop_index("ix_data_subject_requests_house", table)
    sqlite = op.get_bind().dialect.name == "sqlite"
    back = {"done": "completed", "refused": "rejected", "verified": "in-progress", "waiting-for-house": "in-progress"}
    if sqlite:
        op.get_bind().exec_driver_sql("PRAGMA defer_foreign_keys = ON")
        with op.batch_alter_table(table, recreate="always") as batch:
            batch.drop_constraint(op.f("ck_data_subject_requests_status"), type_="check")
            batch.drop_constraint(op.f("ck_data_subject_requests_channel"), type_="check")
    else:
        op.drop_constraint(op.f("ck_data_subject_requests_status"), table, type_="check")
        op.drop_constraint(op.f("ck_data_subject_requests_channel"), table, type_="check")
    for new, old in back.items():
        op.execute(sa.text(RENAME).bindparams(old=new, new=old))
    if sqlite:
        with op.batch_alter_table(table, recreate="always") as batch:
            for name, _ in NEW_COLUMNS:
                batch.drop_column(name)
            batch.create_check_constraint(op.f("ck_data_subject_requests_status"), _in("status", OLD_STATUSES))
    else:
        for name, _ in NEW_COLUMNS:
            op.drop_column(table, name)
        op.create_check_constraint(op.f("ck_data_subject_requests_status"), table, _in("status", OLD_STATUSES))
