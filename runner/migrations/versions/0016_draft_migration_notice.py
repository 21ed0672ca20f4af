"""task_drafts.migration_notice: what moving a case to another process version took out of a draft

A case moved by ``baozhuang migrate`` keeps its open tasks and their drafts (暂存), but a task's form may have
changed: a field gone, a value the new form refuses. The draft is fitted to the new form (``runner.drafts
.recheck_drafts``) and what was taken out — field, value as saved, why — is kept with the draft in this column,
shown with the form until its author saves the draft again. Existing drafts have none. Downgrading to 0015 drops
the column (and with it the notices not yet seen).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('task_drafts') as batch:
        batch.add_column(sa.Column('migration_notice', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('task_drafts') as batch:
        batch.drop_column('migration_notice')
