"""warnings whose correction was rejected are returned (已退回), not acknowledged

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The status is a VARCHAR(16) without a check: the new value needs no schema change.
# An acknowledged warning that has a correction report had that report rejected
# (an accepted one closes it, a pending one keeps it submitted).
_RETURNED = (
    "UPDATE warning SET status = 'returned' "
    "WHERE status = 'acknowledged' "
    "AND id IN (SELECT warning_id FROM rectification WHERE status = 'rejected')"
)
_ACKNOWLEDGED = "UPDATE warning SET status = 'acknowledged' WHERE status = 'returned'"


def upgrade() -> None:
    op.execute(_RETURNED)


def downgrade() -> None:
    op.execute(_ACKNOWLEDGED)
