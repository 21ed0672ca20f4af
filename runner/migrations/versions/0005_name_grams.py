"""customer-name search: open_task_name_grams (every 1- and 2-character piece of an open task's folded customer
name, keyed by piece and lane), backfilled from the open tasks there are

Substring search of any length then reads the tasks holding the fragment's rarest piece instead of a whole lane
(``services.list_tasks``; docs/decisions.md). The pieces are computed here as ``runner.store.name_grams`` does, kept
as a copy so that this migration does not change with the code.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 12:30:00
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

BATCH = 5000


def _grams(folded: str) -> set[str]:
    return {*folded, *(folded[i:i + 2] for i in range(len(folded) - 1))}


def _backfill() -> None:
    bind = op.get_bind()
    tasks = sa.table('open_tasks', sa.column('id', sa.String), sa.column('lane', sa.String),
                     sa.column('customer_name_folded', sa.String))
    grams = sa.table('open_task_name_grams', sa.column('gram', sa.String), sa.column('lane', sa.String),
                     sa.column('task_id', sa.String))
    rows = bind.execute(sa.select(tasks.c.id, tasks.c.lane, tasks.c.customer_name_folded)
                        .where(tasks.c.customer_name_folded.is_not(None))).all()

    def pieces() -> Iterator[dict[str, str]]:
        for task_id, lane, folded in rows:
            for gram in sorted(_grams(folded)):
                yield {'gram': gram, 'lane': lane or '', 'task_id': task_id}

    batch: list[dict[str, str]] = []
    for piece in pieces():
        batch.append(piece)
        if len(batch) >= BATCH:
            bind.execute(grams.insert(), batch)
            batch = []
    if batch:
        bind.execute(grams.insert(), batch)


def upgrade() -> None:
    op.create_table('open_task_name_grams',
    sa.Column('gram', sa.String(length=2), nullable=False),
    sa.Column('lane', sa.String(length=60), nullable=False),
    sa.Column('task_id', sa.String(length=36), nullable=False),
    sa.PrimaryKeyConstraint('gram', 'lane', 'task_id'),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('open_task_name_grams', schema=None) as batch_op:
        batch_op.create_index('ix_open_task_name_grams_task', ['task_id'], unique=False)
    _backfill()


def downgrade() -> None:
    with op.batch_alter_table('open_task_name_grams', schema=None) as batch_op:
        batch_op.drop_index('ix_open_task_name_grams_task')

    op.drop_table('open_task_name_grams')
