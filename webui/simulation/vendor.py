"""Chart.js for the report's charts, served from the project's ``node_modules`` (``npm ci`` in ``make setup``) at
``/static/vendor/chart.umd.min.js``, next to the bpmn-js files of the case page (``webui/cases/vendor.py``). The rule
names the one file, so it wins over the cases blueprint's ``/static/vendor/<name>`` and Flask's ``/static/<path>``.
Without ``npm ci`` it answers 404 with what to run; the report's tables stay readable without the charts."""

from __future__ import annotations

from pathlib import Path

from flask import Response, current_app, send_file
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue

NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"
"""The default; ``NODE_MODULES_DIR`` in the app config overrides it (as for bpmn-js)."""
CHART_JS = "chart.js/dist/chart.umd.min.js"
URL = "/static/vendor/chart.umd.min.js"


def chart_js() -> ResponseReturnValue:
    path = Path(current_app.config.get("NODE_MODULES_DIR") or NODE_MODULES) / CHART_JS
    if not path.is_file():
        return Response(f"{CHART_JS} is missing from node_modules: run `make setup` (npm ci) to install chart.js\n",
                        404, mimetype="text/plain")
    return send_file(path, mimetype="text/javascript; charset=utf-8", conditional=True, max_age=3600)


def register(state: BlueprintSetupState) -> None:
    state.app.add_url_rule(URL, endpoint="vendor_chart_js", view_func=chart_js)
