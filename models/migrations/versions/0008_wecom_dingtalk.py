"""WeCom and DingTalk: people's userids, and the providers' access tokens shared by every worker

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import riskprompt.models.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("wecom_userid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(
            sa.Column("dingtalk_userid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.create_unique_constraint(batch_op.f("uq_person_wecom_userid"), ["wecom_userid"])
        batch_op.create_unique_constraint(
            batch_op.f("uq_person_dingtalk_userid"), ["dingtalk_userid"]
        )
    op.create_table(
        "provider_token",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("token", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
        sa.Column("expires_at", riskprompt.models.types.UTCDateTime(), nullable=False),
        sa.Column("fetched_at", riskprompt.models.types.UTCDateTime(), nullable=True),
        sa.Column("fetches", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_provider_token")),
    )


def downgrade() -> None:
    op.drop_table("provider_token")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_person_dingtalk_userid"), type_="unique")
        batch_op.drop_constraint(batch_op.f("uq_person_wecom_userid"), type_="unique")
        batch_op.drop_column("dingtalk_userid")
        batch_op.drop_column("wecom_userid")
