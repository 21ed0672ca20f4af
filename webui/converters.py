"""URL converters of the web UI."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter, Map

from runner.models import ROW_ID_MAX


class RowIdConverter(IntegerConverter):
    """``<row_id:name>``: the id of a database row, 1 … ``ROW_ID_MAX``. Any other number matches no route (404) instead
    of reaching the database as a value out of its column's range (a 500 before, on both databases)."""

    def __init__(self, url_map: Map, *_args: Any, **_kwargs: Any) -> None:
        super().__init__(url_map, min=1, max=ROW_ID_MAX)


def init_app(app: Any) -> None:
    """Register the converters; before any blueprint, whose rules are bound to them when registered."""
    app.url_map.converters["row_id"] = RowIdConverter
