"""The BPMN files pass bpmnlint's recommended rules (npm bpmnlint, installed by `make setup`) with 0 errors."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PROCESSES, ROOT

BPMNLINT = ROOT / "node_modules" / ".bin" / "bpmnlint"


@pytest.mark.parametrize("name", sorted(p.name for p in PROCESSES.glob("*.bpmn")))
def test_bpmnlint_recommended_has_no_errors(name: str) -> None:
    assert BPMNLINT.exists(), "bpmnlint is not installed: run `make setup` (npm ci)"
    completed = subprocess.run(
        [str(BPMNLINT), str(PROCESSES / name)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    output = completed.stdout + completed.stderr
    errors = re.search(r"(\d+) errors?", output)
    assert completed.returncode == 0 and (errors is None or errors.group(1) == "0"), output


def test_bpmnlint_detects_a_broken_model(tmp_path: Path) -> None:
    broken = tmp_path / "broken.bpmn"
    broken.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" '
        'targetNamespace="http://example.com">\n'
        '  <bpmn:process id="p" isExecutable="true">\n'
        '    <bpmn:task id="lonely" />\n'
        "  </bpmn:process>\n"
        "</bpmn:definitions>\n",
        encoding="utf-8",
    )
    completed = subprocess.run([str(BPMNLINT), str(broken)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert completed.returncode != 0
    assert "lonely" in completed.stdout + completed.stderr
