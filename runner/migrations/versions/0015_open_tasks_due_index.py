"""ix_open_tasks_due and ix_open_tasks_category_due: every open task in list order (due_at, id), and per category

A supervisor's 全部岗位 tab (every lane's open tasks, claimed or not) was read on PostgreSQL as one index read per
lane and per claimed state (17 reads merged and sorted, a statement of 34 subqueries that took 2 ms to plan) and
counted exactly over every lane (69,298 tasks at 100,000 open tasks): p95 27–172 ms. With this index the page is
the first entries of one index scan with the lanes as a filter (0.1 ms), a category's tasks a range of the second
index (its count read the whole table: 25 ms), and the list's total is counted only up to the web UI's bound
(docs/decisions.md, 112). Both cover lane and assignee (and the first the category), so that reads stay in them.
PostgreSQL only: SQLite's planner, which has no statistics, took them over the lane indexes its reads are built for
(SQLite reads 全部岗位 as three merged sets already). Downgrading drops them.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28 11:00:00
"""

from __future__ import annotations

from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index('ix_open_tasks_due', 'open_tasks', ['due_at', 'id', 'lane', 'assignee', 'category'])
    op.create_index('ix_open_tasks_category_due', 'open_tasks', ['category', 'due_at', 'id', 'lane', 'assignee'])


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index('ix_open_tasks_category_due', table_name='open_tasks')
    op.drop_index('ix_open_tasks_due', table_name='open_tasks')
