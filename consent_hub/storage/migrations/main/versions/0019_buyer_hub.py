"""The buyer's own hub (issue 14): sign-ins by mailed link or code, buyer sessions, and the
data-subject requests the buyer makes (with their steps, for the staff desk of issue 15).

No column holds personal data in plain text: tokens, codes and session ids are keyed hashes; what a
request asks to change is sealed with the person's key. The allowed kinds and statuses of a request
are written out here (a migration is history), as ``consent_hub/vocabulary.py`` has them today.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

KINDS = ("access", "portability", "rectification", "erasure", "restriction", "objection")
STATUSES = ("received", "in-progress", "extended", "completed", "rejected", "withdrawn-by-person")


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


def upgrade() -> None:
    op.create_table(
        "buyer_sign_ins",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("person_id", sa.Uuid(), nullable=True),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("form_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("tries_left", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("token_hash", name="uq_buyer_sign_ins_token_hash"),
        sa.UniqueConstraint("form_hash", name="uq_buyer_sign_ins_form_hash"),
    )
    op.create_index("ix_buyer_sign_ins_person_id", "buyer_sign_ins", ["person_id"])
    op.create_table(
        "buyer_sessions",
        sa.Column("id_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_buyer_sessions_person_id", "buyer_sessions", ["person_id"])
    op.create_table(
        "data_subject_requests",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("reference", sa.String(24), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("channel", sa.String(24), nullable=False),
        sa.Column("house", sa.String(40), nullable=True),
        sa.Column("detail_ct", sa.LargeBinary(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("extended_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("extension_reason", sa.Text(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.UniqueConstraint("reference", name="uq_data_subject_requests_reference"),
        sa.CheckConstraint(_in("kind", KINDS), name="ck_data_subject_requests_kind"),
        sa.CheckConstraint(_in("status", STATUSES), name="ck_data_subject_requests_status"),
    )
    op.create_index("ix_data_subject_requests_person_id", "data_subject_requests", ["person_id"])
    op.create_index("ix_data_subject_requests_status_due_at", "data_subject_requests", ["status", "due_at"])
    op.create_table(
        "data_subject_request_steps",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "request_id",
            sa.Uuid(),
            sa.ForeignKey(
                "data_subject_requests.id", name="fk_data_subject_request_steps_request_id_data_subject_requests"
            ),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("step", sa.String(40), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
    )
    op.create_index("ix_data_subject_request_steps_request_id", "data_subject_request_steps", ["request_id"])


def downgrade() -> None:
    op.drop_table("data_subject_request_steps")
    op.drop_table("data_subject_requests")
    op.drop_table("buyer_sessions")
    op.drop_table("buyer_sign_ins")
