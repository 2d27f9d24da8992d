"""Audit of hook calls: one hook_calls row per call (service, hook, hookInstance, keyed hash of
the patient id, status, duration, finding codes returned, FHIR fallback counts); cards_served
rows point at their call; service_secrets holds the generated audit key when none is configured;
jwt_replay.expires_at becomes 64-bit on PostgreSQL.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hook_calls",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("called_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("hook", sa.String(32), nullable=False),
        sa.Column("hook_instance", sa.String(64), nullable=True),
        sa.Column("patient_key", sa.String(64), nullable=True),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("card_count", sa.Integer, nullable=False),
        sa.Column("finding_codes", sa.Text, nullable=False),
        sa.Column("fhir_calls", sa.Integer, nullable=False),
        sa.Column("fhir_failures", sa.Integer, nullable=False),
    )
    op.create_index("ix_hook_calls_called_at", "hook_calls", ["called_at"])
    op.create_index("ix_hook_calls_hook_instance", "hook_calls", ["hook_instance"])
    op.create_index("ix_hook_calls_patient_key", "hook_calls", ["patient_key"])
    op.create_table(
        "service_secrets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(256), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    # A nullable column is added in place on both databases (no table rebuild on SQLite).
    op.add_column("cards_served", sa.Column("call_id", sa.Integer, nullable=True))
    op.create_index("ix_cards_served_call_id", "cards_served", ["call_id"])
    op.create_index("ix_cards_served_served_at", "cards_served", ["served_at"])
    if op.get_bind().dialect.name == "postgresql":
        # epoch seconds outgrow int4 in 2038; SQLite's INTEGER is 64-bit already
        op.alter_column("jwt_replay", "expires_at", type_=sa.BigInteger, existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("cards_served") as batch:
        batch.drop_index("ix_cards_served_served_at")
        batch.drop_index("ix_cards_served_call_id")
        batch.drop_column("call_id")
    op.drop_table("service_secrets")
    op.drop_table("hook_calls")
