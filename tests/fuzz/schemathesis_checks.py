"""A schemathesis check of this project's promise: every API error is JSON with a message.

Loaded by the schemathesis run in :mod:`tests.fuzz.test_openapi_fuzz` (``SCHEMATHESIS_HOOKS``).
"""

from __future__ import annotations

import json

import schemathesis


@schemathesis.check
def error_is_json_with_a_message(ctx, response, case):  # type: ignore[no-untyped-def]
    if response.status_code < 400:
        return None
    try:
        body = json.loads(response.content or b"")
    except ValueError:
        raise AssertionError(f"{response.status_code} answer is not JSON") from None
    if not isinstance(body, dict) or not str(body.get("detail") or "").strip():
        raise AssertionError(f"{response.status_code} answer has no 'detail' message: {body!r}")
    return None
