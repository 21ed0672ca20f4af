"""PostgreSQL: vacuum the work-list tables early (open_tasks, open_task_name_grams)

The work list counts a lane's queue with index-only scans, which skip the table only for pages the visibility map
marks all-visible; VACUUM sets those marks. These two tables churn all day (a row per ready task, gone when it is
done), and PostgreSQL's defaults vacuum a table only once 20 % of it is dead or newly inserted, so between runs a
count of 14,000 unclaimed tasks reads most of the lane's rows from the table: 15 ms instead of 3 ms measured on
100,000 open tasks (bench/README.md). With 1 % the marks stay close to the steady state. SQLite has no autovacuum:
nothing to do there.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 15:00:00
"""

from __future__ import annotations

from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

TABLES = ('open_tasks', 'open_task_name_grams')
SETTINGS = {
    'autovacuum_vacuum_scale_factor': '0.01',
    'autovacuum_vacuum_insert_scale_factor': '0.01',
    'autovacuum_analyze_scale_factor': '0.02',
}


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    values = ', '.join(f'{name} = {value}' for name, value in SETTINGS.items())
    for table in TABLES:
        op.execute(f'ALTER TABLE {table} SET ({values})')


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    names = ', '.join(SETTINGS)
    for table in TABLES:
        op.execute(f'ALTER TABLE {table} RESET ({names})')
