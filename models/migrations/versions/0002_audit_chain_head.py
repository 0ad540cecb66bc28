"""audit chain head: the last audit record's id and hashes, one row

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

Appending to the audit chain updates this row first (models.audit.record): the
row lock makes concurrent appends take turns, and the database computes the new
record's hash from it in the same statement.  Seeded from the last record.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS_HASH = "0" * 64


def upgrade() -> None:
    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=True),
        sa.Column("prev_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    last = (
        op.get_bind()
        .execute(sa.text("SELECT id, prev_hash, hash FROM audit_event ORDER BY id DESC LIMIT 1"))
        .first()
    )
    op.bulk_insert(
        head,
        [
            {
                "id": 1,
                "last_id": last.id if last else None,
                "prev_hash": last.prev_hash if last else GENESIS_HASH,
                "hash": last.hash if last else GENESIS_HASH,
            }
        ],
    )


def downgrade() -> None:
    op.drop_table("audit_chain_head")
