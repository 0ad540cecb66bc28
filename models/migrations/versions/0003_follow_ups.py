"""follow-up: prompt reminders, warning reminders and escalation steps

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

Open warnings get their follow-up planned at the next run (due at once); prompts
created before this revision are not reminded.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import riskprompt.models.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("prompt", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("remind_at", riskprompt.models.types.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("reminders", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.create_index("ix_prompt_status_remind", ["status", "remind_at"], unique=False)
    with op.batch_alter_table("warning", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("deadline_set_at", riskprompt.models.types.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("reminders_sent", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("next_step_at", riskprompt.models.types.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("flagged_at", riskprompt.models.types.UTCDateTime(), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_warning_next_step_at"), ["next_step_at"], unique=False)
    op.execute(
        "UPDATE warning SET deadline_set_at = created_at, next_step_at = created_at "
        "WHERE status IN ('issued', 'acknowledged')"
    )


def downgrade() -> None:
    with op.batch_alter_table("warning", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_warning_next_step_at"))
        batch_op.drop_column("flagged_at")
        batch_op.drop_column("next_step_at")
        batch_op.drop_column("reminders_sent")
        batch_op.drop_column("deadline_set_at")
    with op.batch_alter_table("prompt", schema=None) as batch_op:
        batch_op.drop_index("ix_prompt_status_remind")
        batch_op.drop_column("reminders")
        batch_op.drop_column("remind_at")
