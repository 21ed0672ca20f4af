"""The throttle on invalid bearer tokens refuses only invalid tokens: behind a reverse proxy without
``BAOZHUANG_TRUSTED_PROXIES`` every client shares one address, and one misconfigured script must not lock out
every integration. A valid token is accepted while its address is throttled; invalid ones get 429 and are not
counted, so the address is free again when the window has passed."""

from __future__ import annotations

from datetime import timedelta

from tests.api_helpers import (
    Api,
    api_fixture,  # noqa: F401  (the api fixture)
    error_of,
    issue_token,
)
from webui.api.auth import BAD_TOKEN_LIMIT

PROXY = {"REMOTE_ADDR": "10.0.0.1"}
"""The address every client has behind nginx when the proxy is not trusted."""


def test_valid_tokens_pass_while_invalid_ones_from_the_same_address_are_throttled(api: Api) -> None:
    for attempt in range(BAD_TOKEN_LIMIT.limit + 2):  # a script with a stale token, retrying
        response = api.get("/tasks", token=f"bzt_bad{attempt}", environ_base=PROXY)
        expected = 401 if attempt < BAD_TOKEN_LIMIT.limit else 429
        assert response.status_code == expected, attempt
    throttled = api.get("/tasks", token="bzt_bad-again", environ_base=PROXY)
    assert throttled.status_code == 429 and error_of(throttled)["code"] == "too_many_requests"
    assert 0 < int(throttled.headers["Retry-After"]) <= BAD_TOKEN_LIMIT.window_seconds

    assert api.get("/tasks", "surveyor", environ_base=PROXY).status_code == 200  # another integration
    started = api.post("/applications", "account_manager", environ_base=PROXY, json={"application": {}})
    assert started.status_code == 422  # authenticated, then validated
    assert api.get("/tasks", token="bzt_bad-once-more", environ_base=PROXY).status_code == 429

    late = issue_token(api.db, "inspector", expires_in=timedelta(minutes=1))
    api.db.clock.advance(timedelta(minutes=2))
    assert api.get("/tasks", token=late, environ_base=PROXY).status_code == 429  # expired: invalid, throttled

    api.db.clock.advance(timedelta(seconds=BAD_TOKEN_LIMIT.window_seconds + 1))
    # the refusals while throttled were not counted: the address may present invalid tokens again
    response = api.get("/tasks", token="bzt_bad-later", environ_base=PROXY)
    assert response.status_code == 401 and error_of(response)["code"] == "invalid_token"
