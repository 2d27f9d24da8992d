"""Baseline: cards served, feedback, jwt replay memory (the schema before migrations existed).

Adopts databases created by SQLAlchemy's create_all before Alembic: a table that already exists
is left as it is, only missing ones are created (a local-mode database never had jwt_replay).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "cards_served" not in existing:
        op.create_table(
            "cards_served",
            sa.Column("card_uuid", sa.String(64), primary_key=True),
            sa.Column("service_id", sa.String(64), nullable=False),
            sa.Column("hook_instance", sa.String(64), nullable=False),
            sa.Column("finding_codes", sa.Text, nullable=False),
            sa.Column("suggestion_uuids", sa.Text, nullable=False),
            sa.Column("served_at", sa.String(32), nullable=False),
        )
    if "feedback" not in existing:
        op.create_table(
            "feedback",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("digest", sa.String(64), nullable=False, unique=True),
            sa.Column("service_id", sa.String(64), nullable=False),
            sa.Column("card_uuid", sa.String(128), nullable=False),
            sa.Column("outcome", sa.String(16), nullable=False),
            sa.Column("outcome_timestamp", sa.String(40), nullable=False),
            sa.Column("accepted_suggestions", sa.Text, nullable=True),
            sa.Column("override_reason_system", sa.Text, nullable=True),
            sa.Column("override_reason_code", sa.String(128), nullable=True),
            sa.Column("override_comment", sa.Text, nullable=True),
            sa.Column("finding_codes", sa.Text, nullable=True),
            sa.Column("received_at", sa.String(32), nullable=False),
        )
        op.create_index("ix_feedback_card_uuid", "feedback", ["card_uuid"])
    if "jwt_replay" not in existing:
        op.create_table(
            "jwt_replay",
            sa.Column("jti_key", sa.String(64), primary_key=True),
            sa.Column("expires_at", sa.Integer, nullable=False),
        )
        op.create_index("ix_jwt_replay_expires_at", "jwt_replay", ["expires_at"])


def downgrade() -> None:
    op.drop_table("jwt_replay")
    op.drop_table("feedback")
    op.drop_table("cards_served")
