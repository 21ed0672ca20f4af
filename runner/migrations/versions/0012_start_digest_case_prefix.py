"""start_requests.request_digest; ix_open_tasks_case_number serves a case-number prefix on PostgreSQL

A case start sent again with its request id used to be answered with the first case whatever it carried, so an API
client reusing an id for another application lost it without a word. Each start now keeps a digest of what it was
asked (``runner.services.start_digest``): the id with other data is a 409. Rows from before have none and are
answered as before.

The task list finds a case number by its prefix (``YK20261128`` → that day's cases): ``LIKE 'prefix%'`` on
PostgreSQL needs a pattern-ops B-tree unless the database collation is C, so ix_open_tasks_case_number is rebuilt
with ``varchar_pattern_ops`` there (it still serves equality). SQLite reads the prefix as a range of its BINARY index
and keeps its index. Downgrading to 0011 drops the column and rebuilds the plain index.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('start_requests') as batch:
        batch.add_column(sa.Column('request_digest', sa.String(length=64), nullable=True))
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_open_tasks_case_number', table_name='open_tasks')
        op.create_index('ix_open_tasks_case_number', 'open_tasks', ['case_number'],
                        postgresql_ops={'case_number': 'varchar_pattern_ops'})


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_open_tasks_case_number', table_name='open_tasks')
        op.create_index('ix_open_tasks_case_number', 'open_tasks', ['case_number'])
    with op.batch_alter_table('start_requests') as batch:
        batch.drop_column('request_digest')
