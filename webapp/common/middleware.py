"""Refuse oversize requests before Django reads their body."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


class RequestSizeLimitMiddleware:
    """Answer 413 when ``Content-Length`` exceeds ``MAX_UPLOAD_REQUEST_BYTES``.

    Django's own limit only covers non-file form data; uploads would otherwise be streamed
    to disk in full before any check could run.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.MAX_UPLOAD_REQUEST_BYTES
        if length > limit:
            message = (
                f"Request too large: {length / 1024**2:.1f} MiB sent, the limit is "
                f"{limit / 1024**2:.1f} MiB. Split the upload into smaller requests."
            )
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": message, "code": "request_too_large"}, status=413)
            return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
