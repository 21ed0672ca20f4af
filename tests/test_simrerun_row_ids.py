"""A simulation run's pages with an id no row can have (beyond the INTEGER column, zero): 404 like an unknown run,
never a database error (``webui.converters.RowIdConverter``). Real HTTP on both databases."""

from __future__ import annotations

import pytest

from runner.models import ROW_ID_MAX
from tests.webui_helpers import (
    Web,
    web_fixture,  # noqa: F401  (the web fixture)
)

PAGES = ("/simulation/{id}", "/simulation/{id}/status.json", "/simulation/{id}/result.json",
         "/simulation/{id}/diagram.bpmn")


@pytest.mark.parametrize("run_id", ["99999999999999999999", str(ROW_ID_MAX + 1), "0", str(ROW_ID_MAX)])
def test_no_such_run_is_a_404(web: Web, run_id: str) -> None:
    client = web.client("process_owner")
    for page in PAGES:
        response = client.get(page.format(id=run_id))
        assert response.status_code == 404, (page, run_id, response.status_code)
    assert client.post(f"/simulation/{run_id}/cancel").status_code == 404
    assert client.get(f"/simulation/new?from_run={run_id}").status_code == 404
