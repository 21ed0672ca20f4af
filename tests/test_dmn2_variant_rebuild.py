"""``baozhuang variant rebuild FOLDER [--check]`` (``runner.cli_variant``, ``runner.simulation.variant_rebuild``): a
process owner brings a what-if variant up to today's main model, and ``--check`` fails naming the elements where it
has drifted — on a copy of processes/ whose main model is then changed outside the variant's plan stage."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from runner.cli import main
from tests.conftest import PROCESSES

CATEGORY_TASK = '<bpmn:businessRuleTask id="decide_category" name="确定客户类别">'


@pytest.fixture()
def variant(tmp_path: Path) -> Path:
    """A copy of processes/ with its parallel_plan_review variant rebuilt from the copy's main model."""
    folder = tmp_path / "processes"
    shutil.copytree(PROCESSES, folder)
    overlay = folder / "variants" / "parallel_plan_review"
    assert rebuild(overlay).exit_code == 0
    return overlay


def rebuild(overlay: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["variant", "rebuild", str(overlay), *args])


def test_check_passes_then_names_what_the_main_model_changed_and_rebuild_brings_it_over(variant: Path) -> None:
    main_file = variant.parent.parent / "baozhuang.bpmn"
    checked = rebuild(variant, "--check")
    assert checked.exit_code == 0, checked.output
    assert checked.stdout == f"{variant / 'baozhuang.bpmn'}: up to date with {main_file} (its own: plan_stage)\n"
    text = main_file.read_text(encoding="utf-8")
    assert CATEGORY_TASK in text
    main_file.write_text(text.replace(CATEGORY_TASK, CATEGORY_TASK.replace("确定客户类别", "确定客户类别（新）")),
                         encoding="utf-8")
    before = (variant / "baozhuang.bpmn").read_bytes()
    drifted = rebuild(variant, "--check")
    assert drifted.exit_code == 1
    assert drifted.stdout == ""
    assert drifted.stderr == (f"error: {variant / 'baozhuang.bpmn'} has drifted from {main_file} outside plan_stage: "
                              f"1 element(s): decide_category; rebuild it: baozhuang variant rebuild {variant}\n")
    assert (variant / "baozhuang.bpmn").read_bytes() == before  # --check writes nothing
    rebuilt = rebuild(variant)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert rebuilt.stdout == (f"rebuilt {variant / 'baozhuang.bpmn'} from {main_file} (kept: plan_stage; 1 element(s) "
                              "brought up to date)\n")
    text = (variant / "baozhuang.bpmn").read_text(encoding="utf-8")
    assert "确定客户类别（新）" in text
    assert 'id="gw_review_split"' in text and 'id="gw_review_join"' in text  # still the parallel review
    assert rebuild(variant, "--check").exit_code == 0
    assert rebuild(variant).stdout.endswith("unchanged, up to date with " f"{main_file}\n")


def test_the_variants_own_stage_is_kept(variant: Path) -> None:
    """A change inside the plan stage of the variant is the variant's: no drift, and a rebuild keeps it."""
    path = variant / "baozhuang.bpmn"
    text = path.read_text(encoding="utf-8")
    split = text[text.index('id="gw_review_split"'):]
    name = split[split.index('name="') + 6:split.index('"', split.index('name="') + 6)]
    path.write_text(text.replace(f'id="gw_review_split" name="{name}"', 'id="gw_review_split" name="并行审核（改）"'),
                    encoding="utf-8")
    assert rebuild(variant, "--check").exit_code == 0
    assert rebuild(variant).exit_code == 0
    assert 'name="并行审核（改）"' in path.read_text(encoding="utf-8")


def test_keep_names_the_part_explicitly(variant: Path) -> None:
    assert rebuild(variant, "--check", "--keep", "plan_stage").exit_code == 0
    unknown = rebuild(variant, "--check", "--keep", "plan_stag")
    assert unknown.exit_code == 1
    assert unknown.stderr == (f"error: {variant.parent.parent / 'baozhuang.bpmn'}: no subprocess 'plan_stag' (the "
                              "variant's part must be a subprocess of both files)\n")


def test_a_folder_that_is_no_overlay_is_refused(tmp_path: Path) -> None:
    result = rebuild(PROCESSES)
    assert result.exit_code == 1
    assert result.stderr == (f"error: {PROCESSES}: not a variant overlay (a folder inside the variants/ folder of a "
                             "process folder that holds baozhuang.bpmn)\n")
    missing = rebuild(tmp_path / "nowhere")
    assert missing.exit_code == 1
    assert "no such folder" in missing.stderr


def test_a_broken_variant_file_is_named_with_its_line(variant: Path) -> None:
    path = variant / "baozhuang.bpmn"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[9] = "</nope>\n"  # an end tag opening nothing
    path.write_text("".join(lines), encoding="utf-8")
    result = rebuild(variant, "--check")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {path}:10: invalid XML: "), result.stderr
