"""Events: no unique index on the hash

Every event's hash is SHA-256 over the previous hash and its own fields: random text, so a unique index on it puts
each new event into a random leaf page. On SQLite that was a quarter of the pages a task completion writes (8.9 of
35 WAL pages per transaction in bench/bench_runner_overhead.py); on PostgreSQL it is the one index of the log that
never stays hot (an index on time or id grows at its end). It guarded nothing the chain does not: appends are
serialised by the lock on ``chain_head``, so two events never chain on the same previous hash, and
``baozhuang audit verify`` recomputes every hash and link in id order, so an edited, deleted or forged row is found
with or without the index. Nothing looks events up by hash.

SQLite rebuilds the table (it cannot drop a UNIQUE constraint in place); PostgreSQL drops the constraint.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 21:30:00
"""

from __future__ import annotations

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# SQLite reflects the constraint of 0001 without a name: the batch operation names it so that it can be dropped
NAMING = {'uq': 'uq_%(table_name)s_%(column_0_name)s'}


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_constraint('events_hash_key', 'events', type_='unique')
        return
    with op.batch_alter_table('events', naming_convention=NAMING) as batch_op:
        batch_op.drop_constraint('uq_events_hash', type_='unique')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.create_unique_constraint('events_hash_key', 'events', ['hash'])
        return
    with op.batch_alter_table('events', naming_convention=NAMING) as batch_op:
        batch_op.create_unique_constraint('uq_events_hash', ['hash'])
