"""outbox.last_attempt_at: when the worker last tried to deliver a message

Failed notifications are listed for supervisors (``/incidents/``, ``/api/v1/failed-messages``, ``baozhuang outbox
list``) with the time of their last attempt; until now that column showed when the last attempt was scheduled
(``next_attempt_at``), which is a different time whenever the worker was late or down. The worker now records the
time of every attempt. Rows written before: a delivered message's attempt is its ``delivered_at``; a failed one's
last attempt is taken to be the time it was scheduled for (the best the old rows know); pending ones stay empty
until their next attempt. Downgrading to 0009 drops the column.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.add_column(sa.Column('last_attempt_at', sa.DateTime(), nullable=True))
    op.execute("UPDATE outbox SET last_attempt_at = delivered_at WHERE status = 'delivered'")
    op.execute("UPDATE outbox SET last_attempt_at = next_attempt_at WHERE status = 'failed'")


def downgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.drop_column('last_attempt_at')
