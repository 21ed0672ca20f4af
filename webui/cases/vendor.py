"""The bpmn-js viewer for the case diagram, served from the project's ``node_modules`` (installed by ``npm ci`` in
``make setup``; neither ``node_modules`` nor the bundle is committed). ``/static/vendor/<name>`` for the few files
the viewer needs; the rule is added to the app when the ``cases`` blueprint is registered, and wins over Flask's
``/static/<path>`` because it is more specific. Without ``npm ci`` the files answer 404 with what to run."""

from __future__ import annotations

from pathlib import Path

from flask import Response, current_app, send_file
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue

NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"
"""The default; ``NODE_MODULES_DIR`` in the app config overrides it."""

FILES = {
    "bpmn-navigated-viewer.js": ("bpmn-js/dist/bpmn-navigated-viewer.production.min.js", "text/javascript"),
    "diagram-js.css": ("bpmn-js/dist/assets/diagram-js.css", "text/css"),
    "bpmn-js.css": ("bpmn-js/dist/assets/bpmn-js.css", "text/css"),
}


def vendor_file(name: str) -> ResponseReturnValue:
    entry = FILES.get(name)
    if entry is None:
        return Response(f"no vendor file {name!r}\n", 404, mimetype="text/plain")
    relative, mimetype = entry
    path = Path(current_app.config.get("NODE_MODULES_DIR") or NODE_MODULES) / relative
    if not path.is_file():
        return Response(f"{relative} is missing from node_modules: run `make setup` (npm ci) to install bpmn-js\n",
                        404, mimetype="text/plain")
    return send_file(path, mimetype=f"{mimetype}; charset=utf-8", conditional=True, max_age=3600)


def register(state: BlueprintSetupState) -> None:
    state.app.add_url_rule("/static/vendor/<name>", endpoint="vendor", view_func=vendor_file)
