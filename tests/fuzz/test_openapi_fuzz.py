"""The OpenAPI schema drives schemathesis against a live server: no 500, errors are JSON.

Property-based: schemathesis generates requests for every operation from the schema
(valid and invalid bodies, odd path parameters) and sends them, as a signed-in site admin,
to the real server that pytest-django starts. Bounded by examples per operation and a fixed
seed, so a failure can be replayed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from tests.factories import SiteFactory, member
from webapp.sites.roles import Role

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = os.environ.get("FUZZ_EXAMPLES", "4")


@pytest.mark.timeout(900)
def test_no_operation_answers_500_and_every_error_is_json(live_server, transactional_db, tmp_path):  # type: ignore[no-untyped-def]
    site = SiteFactory(slug="park", name="City park")
    admin = member(site, Role.ADMIN, username="fuzzer")
    token = Token.objects.create(user=admin).key
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{live_server.url}/api/schema/",
            "--header",
            f"Authorization: Token {token}",
            "--max-examples",
            EXAMPLES,
            "--seed",
            "7",
            "--phases",
            "examples,coverage,fuzzing",
            "--checks",
            "not_a_server_error,error_is_json_with_a_message",
            "--request-timeout",
            "60",
            "--no-color",
        ],
        cwd=REPO,
        env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz.schemathesis_checks"},
        capture_output=True,
        text=True,
        timeout=880,
    )
    report = run.stdout[-6000:] + run.stderr[-2000:]
    assert run.returncode == 0, report
