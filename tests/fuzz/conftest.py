"""The fuzz suite's shared Hypothesis profile and a real household to fuzz against.

Every test runs a fixed number of examples (its own ``max_examples``) drawn
deterministically (``derandomize``), with no example database, so CI runs the
same inputs every time; found bugs stay as ``@example`` regressions.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from camera.app import OUTBOX_DB, engines_for
from camera.cli import main
from camera.config import Config
from camera.service import Service
from camera.web.accounts import Accounts
from camera.web.app import WebContext, create_app
from camera.web.config import WebConfig
from camera.web.feed import OutboxTail
from tests.fuzz.support import OBAMA, PERSON

settings.register_profile(
    "fuzz", derandomize=True, database=None, deadline=None, print_blob=False, max_examples=50,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much])
settings.load_profile("fuzz")


@pytest.fixture(scope="module")
def household(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with :data:`PERSON` enrolled from a real photo by ``facecam enroll`` (once per module)."""
    root = tmp_path_factory.mktemp("household") / "data"
    assert main(["enroll", "--data-dir", str(root), PERSON, str(OBAMA)]) == 0
    return root


@pytest.fixture(scope="module")
def web(household: Path) -> Iterator[TestClient]:
    """The web app of :func:`household` in this process, with an API token (the engines loaded once)."""
    with Accounts(household) as accounts:
        accounts.add_user("alice", "correct horse battery")
        _token, secret = accounts.create_token("alice", "fuzz")
    with Accounts(household) as accounts:
        ctx = WebContext(Service(Config(), household, engines_for(household)), accounts, WebConfig(),
                         OutboxTail(household / OUTBOX_DB))
        with TestClient(create_app(ctx), headers={"Authorization": f"Bearer {secret}"}) as client:
            yield client
