"""Review fixes of ``baozhuang export-log``: every row and trace says which process version its case runs, XES
offers the element id as a classifier (a renamed step stays one activity), and ``--out`` creates missing folders
as the other commands with ``--out`` do, and says so in its help."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from click.testing import CliRunner
from lxml import etree
from sqlalchemy import select

from runner.cli import main
from runner.export import Selection, iter_case_logs, write_csv, write_xes
from runner.models import Case as CaseRow
from runner.models import ProcessVersion
from tests.test_export import XES, Log, attributes, cli, log  # noqa: F401 (the module's shared log fixture)


def version_of(exported: Log, number: str) -> str:
    with exported.sessions.begin() as session:
        version = session.scalar(select(ProcessVersion).join(CaseRow, CaseRow.version_id == ProcessVersion.id)
                                 .where(CaseRow.case_number == number))
        assert version is not None
        return f"{version.id} ({version.version_hash[:12]})"


def test_each_csv_row_names_the_process_version_of_its_case(log: Log) -> None:  # noqa: F811
    out = io.StringIO()
    write_csv(iter_case_logs(log.sessions, Selection((log.finished,))), out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert rows and {row["process_version"] for row in rows} == {version_of(log, log.finished)}


def test_each_xes_trace_names_its_process_version_and_the_element_id_is_a_classifier(log: Log) -> None:  # noqa: F811
    out = io.BytesIO()
    write_xes(iter_case_logs(log.sessions, Selection((log.finished,))), out)
    root = etree.fromstring(out.getvalue())
    [trace] = root.findall(f"{XES}trace")
    assert attributes(trace)["process_version"] == version_of(log, log.finished)
    classifiers = {c.get("name"): c.get("keys") for c in root.findall(f"{XES}classifier")}
    assert classifiers["Element"] == "element_id"


def test_out_creates_missing_folders_and_its_help_says_so(log: Log, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "not" / "there" / "log.csv"
    result = cli(log, "--format", "csv", "--out", str(out), "--case", log.finished)
    assert result.exit_code == 0, result.output
    assert out.is_file()
    help_text = " ".join(CliRunner().invoke(main, ["export-log", "--help"]).output.split())
    assert "missing folders on its path are created" in help_text
