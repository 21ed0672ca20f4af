"""ix_open_tasks_queue_follow_up and ix_open_tasks_claimed_follow_up: each lane's tasks with a follow-up date

The task list's 跟进到期 filter and badge (``TaskFilter.follow_up_due``: ``follow_up_at <= now``) had no index on
``follow_up_at``: with few or no matches they read every open task of every lane shown (68–174 ms for the badge of
a supervisor's 全部岗位 page at 100,000 open tasks). Two partial indexes hold only the tasks that have a follow-up
date, per lane and by that date, one for the unclaimed queue and one for claimed tasks, like ix_open_tasks_queue
and ix_open_tasks_claimed; they also hold the list order (due_at, id), the assignee and the category, so that reads
and counts of the filter stay in them (docs/decisions.md, 102). Downgrading drops them.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

QUEUE_FOLLOW_UP = sa.text("assignee IS NULL AND follow_up_at IS NOT NULL")
CLAIMED_FOLLOW_UP = sa.text("assignee IS NOT NULL AND follow_up_at IS NOT NULL")


def upgrade() -> None:
    op.create_index('ix_open_tasks_queue_follow_up', 'open_tasks',
                    ['lane', 'follow_up_at', 'due_at', 'id', 'assignee', 'category'],
                    sqlite_where=QUEUE_FOLLOW_UP, postgresql_where=QUEUE_FOLLOW_UP)
    op.create_index('ix_open_tasks_claimed_follow_up', 'open_tasks',
                    ['lane', 'follow_up_at', 'due_at', 'id', 'assignee', 'category'],
                    sqlite_where=CLAIMED_FOLLOW_UP, postgresql_where=CLAIMED_FOLLOW_UP)


def downgrade() -> None:
    op.drop_index('ix_open_tasks_claimed_follow_up', table_name='open_tasks')
    op.drop_index('ix_open_tasks_queue_follow_up', table_name='open_tasks')
