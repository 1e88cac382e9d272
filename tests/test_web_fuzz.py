"""Fuzz every documented API operation from /api/openapi.json with schemathesis: no input may cause a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from test_web_support import ADMIN, make_appliance, seeded_store, with_users

from camapp.web.auth import UserStore
from camapp.web.openapi import spec

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import not_a_server_error  # noqa: E402


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory, demo_video: Path) -> Iterator[tuple[Any, str]]:
    seed = seeded_store(tmp_path_factory, demo_video)
    appl, feeder = make_appliance(tmp_path_factory.mktemp("fuzz"), demo_video, seed)
    with_users(appl)
    token = UserStore(appl.ctx.data_dir).create_token(ADMIN, "fuzz")
    try:
        yield appl.app, token
    finally:
        feeder.close()
        appl.close()


# The document the app serves (test_web_api checks they are equal); the live stream never ends by itself and is
# covered by test_web_api with max_frames.
schema = schemathesis.openapi.from_dict(spec()).exclude(path="/stream.mjpeg")


# One test per operation, each with an id of its own ("GET /api/events"): schemathesis's own parametrize gives every
# operation the same node id, which pytest-xdist (make test runs two workers) would collapse into one test.
OPERATIONS = [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_api_never_fails_with_5xx(operation: Any, fuzz_app: tuple[Any, str]) -> None:
    app, token = fuzz_app

    @given(case=operation.as_strategy())
    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        response = case.call(app=app, headers={"Authorization": f"Bearer {token}"})
        case.validate_response(response, checks=[not_a_server_error])
        if response.status_code >= 400:
            body = response.json()
            assert isinstance(body.get("error"), str) and body["status"] == response.status_code

    check()
