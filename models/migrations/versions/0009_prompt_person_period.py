"""A covering index on prompt for the console's counts per unit of a period

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_prompt_person_period",
        "prompt",
        ["person_id", "period", "status", "requires_ack", "kind"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_prompt_person_period", table_name="prompt")
