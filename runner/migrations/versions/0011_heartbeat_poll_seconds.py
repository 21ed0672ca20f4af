"""worker_heartbeats.poll_seconds: each worker's own poll interval

``/healthz`` counts a worker alive while its heartbeat is younger than three polls (at least 30 s). It used to take
the poll interval from the web server's own ``WORKER_POLL_SECONDS``, so a healthy worker run with a longer
``--poll-seconds`` than the web assumed flapped to ``stale`` between beats. Each worker now writes its interval
into its row; rows written before have none, and are judged by the web's setting as before. Downgrading to 0010
drops the column.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('worker_heartbeats') as batch:
        batch.add_column(sa.Column('poll_seconds', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('worker_heartbeats') as batch:
        batch.drop_column('poll_seconds')
