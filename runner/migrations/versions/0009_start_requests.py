"""start_requests: a case start's request id (the portal's submission id), so that a repeated submission starts no
second case

The portal's application form carries a random submission id; ``runner.services.start_case`` inserts it here before
the case, in the same transaction, and the primary key lets only one of two concurrent starts (two processes, two
hosts) go on: the other is answered with the first case. Downgrading to 0008 drops the table: the cases stay, only
a repeat of an old submission would start a second case.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 04:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('start_requests',
    sa.Column('request_id', sa.String(length=80), nullable=False),
    sa.Column('case_number', sa.String(length=40), nullable=False),
    sa.Column('requested_by', sa.String(length=80), nullable=False),
    sa.Column('requested_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('request_id')
    )


def downgrade() -> None:
    op.drop_table('start_requests')
