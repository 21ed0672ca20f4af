"""login_sessions (a row per signed-in browser session); api_tokens.scope (read or read-write); ix_open_tasks_claimed

Signing out only cleared the browser's cookie: a copy of it stayed valid until the session's 12 h end. Each login now
has a row whose secret the cookie carries (``runner.login_sessions``); signing out, an administrator's "end
sessions", a password reset or a deactivation ends it on the server. Sessions of the older cookie format sign in
again once.

API tokens get a scope: ``read`` tokens may only read. Tokens from before are ``read-write`` (the server default), so
they keep working as they did, and keep the expiry they had (none unless given). Downgrading to 0012 drops the table
and the column (every token becomes read-write again, as it was).

ix_open_tasks_claimed holds each lane's claimed tasks in list order with their assignee and category, so that the
task list's 全部岗位 tab (every lane, claimed or not) reads and counts the tasks other people hold in the index
instead of scanning them (decisions 91).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

CLAIMED = sa.text("assignee IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        'login_sessions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('key_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(), nullable=False),
        sa.Column('ended_at', sa.DateTime(), nullable=True),
        sa.Column('end_reason', sa.String(length=20), nullable=True),
        sa.Column('address', sa.String(length=64), nullable=False),
        sa.Column('user_agent', sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key_hash'),
    )
    with op.batch_alter_table('login_sessions') as batch:
        batch.create_index(batch.f('ix_login_sessions_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('api_tokens') as batch:
        batch.add_column(sa.Column('scope', sa.String(length=20), nullable=False, server_default='read-write'))
    op.create_index('ix_open_tasks_claimed', 'open_tasks', ['lane', 'due_at', 'id', 'assignee', 'category'],
                    sqlite_where=CLAIMED, postgresql_where=CLAIMED)


def downgrade() -> None:
    op.drop_index('ix_open_tasks_claimed', table_name='open_tasks')
    with op.batch_alter_table('api_tokens') as batch:
        batch.drop_column('scope')
    with op.batch_alter_table('login_sessions') as batch:
        batch.drop_index(batch.f('ix_login_sessions_user_id'))
    op.drop_table('login_sessions')
