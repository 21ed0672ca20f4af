"""process_version_activations: which version new cases start on, and who made it so when

Until now the newest version row was the current one, so re-deploying an older version's files (a rollback) could
only answer "already deployed" while new cases went on starting on the newer version. Each deployment of a new
version and each re-deployment of an older one now adds a row (version, previous version, when, by whom); the
newest row names the current version (``runner.store.current_version``). Backfilled with one row per existing
version, in id order, at its deployment time and by its deployer: the current version stays the newest one.

Downgrading to 0007 refuses while the activations record a rollback: 0007 has no place for it (its current version
is the newest row), so new cases would start on the version the analyst rolled back from, and who rolled back
when would be gone for good (upgrading again backfills one row per version). Setting
``BAOZHUANG_DOWNGRADE_FORGET_ROLLBACKS=yes`` downgrades anyway (docs/runner.md, "Downgrading the schema").

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 23:00:00
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def _backfill() -> None:
    bind = op.get_bind()
    versions = sa.table('process_versions', sa.column('id', sa.Integer), sa.column('deployed_at', sa.DateTime),
                        sa.column('deployed_by', sa.String))
    activations = sa.table('process_version_activations', sa.column('version_id', sa.Integer),
                           sa.column('previous_version_id', sa.Integer), sa.column('activated_at', sa.DateTime),
                           sa.column('activated_by', sa.String))
    rows = bind.execute(sa.select(versions.c.id, versions.c.deployed_at, versions.c.deployed_by)
                        .order_by(versions.c.id)).all()
    previous: int | None = None
    batch = []
    for version_id, deployed_at, deployed_by in rows:
        batch.append({'version_id': version_id, 'previous_version_id': previous, 'activated_at': deployed_at,
                      'activated_by': deployed_by})
        previous = version_id
    if batch:
        bind.execute(activations.insert(), batch)


def upgrade() -> None:
    op.create_table('process_version_activations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('previous_version_id', sa.Integer(), nullable=True),
    sa.Column('activated_at', sa.DateTime(), nullable=False),
    sa.Column('activated_by', sa.String(length=80), nullable=False),
    sa.Column('note', sa.String(length=400), nullable=True),
    sa.ForeignKeyConstraint(['version_id'], ['process_versions.id'], ),
    sa.ForeignKeyConstraint(['previous_version_id'], ['process_versions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('process_version_activations', schema=None) as batch_op:
        batch_op.create_index('ix_process_version_activations_version_id', ['version_id'], unique=False)
    _backfill()


FORGET_ROLLBACKS = 'BAOZHUANG_DOWNGRADE_FORGET_ROLLBACKS'


def _lost_on_downgrade() -> list[str]:
    """What 0007 cannot hold and an upgrade cannot backfill: each activation of a version no newer than one
    activated or replaced before it (a rollback: a new deployment always gets the highest id), and a current
    version other than the newest one."""
    bind = op.get_bind()
    activations = sa.table('process_version_activations', sa.column('id', sa.Integer),
                           sa.column('version_id', sa.Integer), sa.column('previous_version_id', sa.Integer),
                           sa.column('activated_at', sa.DateTime), sa.column('activated_by', sa.String))
    rows = bind.execute(sa.select(activations.c.version_id, activations.c.previous_version_id,
                                  activations.c.activated_at, activations.c.activated_by)
                        .order_by(activations.c.id)).all()
    lost, highest = [], 0
    for version_id, previous_id, activated_at, activated_by in rows:
        if version_id <= max(highest, previous_id or 0):
            lost.append(f'version {version_id} made current again on {activated_at:%Y-%m-%d %H:%M} by '
                        f'{activated_by}, replacing version {previous_id}')
        highest = max(highest, version_id, previous_id or 0)
    versions = sa.table('process_versions', sa.column('id', sa.Integer))
    newest_id = bind.execute(sa.select(sa.func.max(versions.c.id))).scalar()
    if rows and rows[-1][0] != newest_id:
        lost.append(f'new cases would start on version {newest_id} (the newest) instead of version {rows[-1][0]}, '
                    'the current one')
    return lost


def downgrade() -> None:
    lost = _lost_on_downgrade()
    if lost and os.environ.get(FORGET_ROLLBACKS, '').lower() not in ('yes', '1', 'true'):
        shown = '; '.join(lost[:5]) + (f'; and {len(lost) - 5} more' if len(lost) > 5 else '')
        raise RuntimeError(
            'downgrade to 0007 refused: schema 0007 keeps no rollbacks (new cases start on the newest version), '
            f'so it would lose: {shown}. To downgrade anyway, set {FORGET_ROLLBACKS}=yes (then, to start new '
            'cases on a rolled-back version again, deploy its files with any edit: they become the newest version)')
    with op.batch_alter_table('process_version_activations', schema=None) as batch_op:
        batch_op.drop_index('ix_process_version_activations_version_id')

    op.drop_table('process_version_activations')
