"""The case summary's 回访结果: the customer's latest rating (``case_queries.latest_followup``) in words — the
rating as the step's form names it (满意 / 基本满意 / 不满意), when, who recorded it (the agent by name, or the
customer on the portal) in which step, and the start of the customer's comments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from runner.case_queries import FOLLOWUP_RATING, FollowupResult
from runner.process_folder import ProcessBundle

from ..formrender import choice_title
from ..i18n import _
from ..tasks.people import display_name

COMMENT_CHARS = 60
"""How much of the customer's comments the summary shows (the whole text is under 办理记录 › 查看)."""
BAD_RATINGS = ("dissatisfied",)


@dataclass(frozen=True)
class FollowupShown:
    rating: str
    bad: bool
    step: str
    at: datetime
    who: str
    comments: str | None
    """The comments shortened to ``COMMENT_CHARS`` (an ellipsis marks a cut)."""


def followup_shown(result: FollowupResult | None, bundle: ProcessBundle) -> FollowupShown | None:
    if result is None:
        return None
    form = bundle.forms.get(bundle.form_files.get(result.element_id, ""), {})
    field = form.get("properties", {}).get(FOLLOWUP_RATING, {})
    rating = choice_title(field, result.satisfaction) if isinstance(field, dict) else None
    return FollowupShown(rating or result.satisfaction, result.satisfaction in BAD_RATINGS, result.step, result.at,
                         who(result.user), short(result.comments))


def who(user: str | None) -> str:
    """The agent by display name; the portal's pseudo users (the customer themself) as 客户本人."""
    if not user:
        return "—"
    if user.startswith(("customer:", "applicant:")):
        return _("客户本人")
    return display_name(user)


def short(text: str | None) -> str | None:
    if not text:
        return None
    return text if len(text) <= COMMENT_CHARS else text[:COMMENT_CHARS].rstrip() + "…"
