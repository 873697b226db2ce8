"""The page shown when a form's CSRF check fails, in the product's words and look."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """403 that says what to do: usually the page was open too long or cookies are off.

    Django's reason (e.g. "CSRF token missing") is kept in a detail line for whoever
    debugs it; it reveals nothing an attacker does not already know.
    """
    message = (
        "This form could not be sent because its security check failed. This happens when "
        "the page was open for a long time, after signing in again in another tab, or when "
        "the browser blocks cookies for this site. Reload the page and try again."
    )
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": f"CSRF check failed: {reason}."}, status=403)
    return render(request, "403_csrf.html", {"message": message, "reason": reason}, status=403)
