"""What a client sees while django-axes locks it out after repeated wrong passwords."""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

LOCKED_STATUS = 429


def _minutes() -> int:
    return max(1, math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60))


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """429 with a plain message: JSON for the API, the sign-in page's look for people.

    The message does not say whether the password was right, so a lockout tells an
    attacker nothing about the account.
    """
    minutes = _minutes()
    message = (
        f"Too many failed sign-in attempts for this account from your address. "
        f"Try again in {minutes} minute{'s' if minutes != 1 else ''}, or ask an admin to "
        "unlock it."
    )
    retry_after = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": message}, status=LOCKED_STATUS)
    else:
        response = render(
            request, "registration/locked_out.html", {"message": message}, status=LOCKED_STATUS
        )
    response["Retry-After"] = retry_after
    return response
