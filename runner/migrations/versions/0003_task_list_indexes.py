"""task list: partial indexes in list order per visible set; trigram index for customer search on PostgreSQL

Replaces ix_open_tasks_lane_due, ix_open_tasks_assignee_due and ix_open_tasks_category_due (whose order could not
serve ``ORDER BY due_at IS NULL, due_at, id``) with partial indexes that serve it read in two ranges (due date
known / unknown): a lane's unclaimed queue, the same
per category, and a person's own tasks. Adds a covering index of a lane's queue for name search on SQLite. On
PostgreSQL, ix_open_tasks_customer becomes a pg_trgm GIN index (substring LIKE); if the extension cannot be created,
it stays a plain B-tree and name search scans the lane's queue instead.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

UNCLAIMED = sa.text("assignee IS NULL")
CLAIMED = sa.text("assignee IS NOT NULL")


def _create_trigram_index() -> None:
    """The GIN trigram index, inside a savepoint so that a missing pg_trgm leaves the migration usable."""
    bind = op.get_bind()
    available = bind.exec_driver_sql(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'").scalar() is not None
    if available:
        try:
            with bind.begin_nested():
                bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                op.drop_index('ix_open_tasks_customer', table_name='open_tasks')
                op.create_index('ix_open_tasks_customer', 'open_tasks', ['customer_name_folded'],
                                postgresql_using='gin', postgresql_ops={'customer_name_folded': 'gin_trgm_ops'},
                                postgresql_with={'fastupdate': 'off'})  # no pending list to scan per query
            return
        except sa.exc.DBAPIError as error:  # e.g. not allowed to create extensions
            print(f"0003: pg_trgm unavailable ({error.orig}); customer search will not use an index")
    else:
        print("0003: pg_trgm is not installed; customer search will not use an index")


def upgrade() -> None:
    with op.batch_alter_table('open_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_open_tasks_lane_due')
        batch_op.drop_index('ix_open_tasks_assignee_due')
        batch_op.drop_index('ix_open_tasks_category_due')
    for name, columns, where in (
        ('ix_open_tasks_queue', ['lane', 'due_at', 'id'], UNCLAIMED),
        ('ix_open_tasks_queue_category', ['lane', 'category', 'due_at', 'id'], UNCLAIMED),
        ('ix_open_tasks_mine', ['assignee', 'due_at', 'id'], CLAIMED),
        ('ix_open_tasks_queue_customer', ['lane', 'customer_name_folded', 'case_number'], UNCLAIMED),
    ):
        op.create_index(name, 'open_tasks', columns, sqlite_where=where, postgresql_where=where)
    if op.get_bind().dialect.name == 'postgresql':
        _create_trigram_index()


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_open_tasks_customer', table_name='open_tasks')
        op.create_index('ix_open_tasks_customer', 'open_tasks', ['customer_name_folded'])
    for name in ('ix_open_tasks_queue_customer', 'ix_open_tasks_mine', 'ix_open_tasks_queue_category',
                 'ix_open_tasks_queue'):
        op.drop_index(name, table_name='open_tasks')
    with op.batch_alter_table('open_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_open_tasks_category_due', ['category', 'due_at'], unique=False)
        batch_op.create_index('ix_open_tasks_assignee_due', ['assignee', 'due_at', 'id'], unique=False)
        batch_op.create_index('ix_open_tasks_lane_due', ['lane', 'due_at', 'id'], unique=False)
