"""``baozhuang try`` as a process analyst uses it to test an edit: an answer the case never used is said (the path
meant to be tested was not taken), and an answer that does not fit its form is named as that task's answer, not as
a failure of the step before."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from runner.cli import main
from runner.trial import TrialOptions, run_trial


def _try(tmp_path: Path, category: str, answers: dict[str, object]) -> tuple[int, str, str]:
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(answers, ensure_ascii=False), encoding="utf-8")
    result = CliRunner().invoke(main, ["try", "--category", category, "--answers", str(path)])
    return result.exit_code, result.stdout, result.stderr


def test_an_answer_for_a_step_the_case_never_reached_is_noted(tmp_path: Path) -> None:
    code, stdout, stderr = _try(tmp_path, "lv_residential", {"review_plan": {"decision": "approve"}})
    assert code == 0
    assert json.loads(stdout)["completed"] is True
    assert stderr.splitlines() == ["note: the answer for review_plan was not used: the case never reached it"]


def test_more_answers_than_visits_are_noted(tmp_path: Path) -> None:
    """Two answers for 审核供电方案, the first one approving: the second visit the analyst meant never comes."""
    code, _stdout, stderr = _try(tmp_path, "hv_ordinary", {"review_plan": [{"decision": "approve"},
                                                                            {"decision": "approve"}]})
    assert code == 0
    assert stderr.splitlines() == ["note: 2 answers for review_plan, 1 used: the case reached it 1 time"]


def test_answers_that_were_all_used_give_no_note(tmp_path: Path, bundle: object) -> None:
    code, _stdout, stderr = _try(tmp_path, "hv_ordinary", {
        "review_plan": [{"decision": "revise", "comments": "电源点需调整"}, {"decision": "approve"}],
        "meter_online": {"confirmed_at": "2026-12-01T10:00:00+08:00"}})
    assert code == 0
    assert stderr == ""
    result = run_trial(bundle, TrialOptions(category="hv_ordinary", answers={  # type: ignore[arg-type]
        "review_plan": [{"decision": "revise", "comments": "电源点需调整"}, {"decision": "approve"}]}))
    assert result.visited.count("review_plan") == 2 and result.unused_answers == []


def test_an_answer_that_does_not_fit_its_form_is_named_as_that_tasks(tmp_path: Path) -> None:
    """Before: ``error: after draft_plan: comments: …``, as if 编制供电方案 had failed."""
    code, _stdout, stderr = _try(tmp_path, "hv_ordinary", {"review_plan": {"decision": "revise"}})
    assert code == 1
    assert stderr.splitlines() == [
        "error: answering review_plan (after draft_plan): comments: 'comments' is a required property"]
