"""Domain errors raised by services, and their mapping to JSON API responses.

Services raise Django's own ``Http404``, ``PermissionDenied`` and ``ValidationError`` plus
:class:`Conflict`; pages get Django's usual handling, the API gets JSON with a ``detail``
message and the right status (400, 401, 403, 404, 409, 413).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from django.views.defaults import server_error as django_server_error
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class Conflict(Exception):
    """The request is valid but clashes with the current state (HTTP 409)."""


class ConflictError(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


def _validation_payload(exc: DjangoValidationError) -> dict[str, Any]:
    if hasattr(exc, "error_dict"):
        fields = {
            name: [str(m) for e in errs for m in e.messages]
            for name, errs in exc.error_dict.items()
        }
        first = next(iter(fields.values()))[0]
        return {"detail": first, "errors": fields}
    return {"detail": " ".join(exc.messages)}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        return Response(_validation_payload(exc), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Conflict):
        exc = ConflictError(str(exc))
    if isinstance(exc, Http404) and str(exc):
        exc = exceptions.NotFound(str(exc))
    if isinstance(exc, PermissionDenied) and str(exc):
        exc = exceptions.PermissionDenied(str(exc))
    response = exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" not in response.data:
        # Field errors from serializers: keep them, and add one readable message.
        first_field, messages = next(iter(response.data.items()))
        message = messages[0] if isinstance(messages, list) and messages else messages
        response.data = {"detail": f"{first_field}: {message}", "errors": response.data}
    return response


def api_path_not_found(request: HttpRequest, unknown: str = "") -> JsonResponse:
    """JSON 404 for any path under /api/ that no endpoint serves (not Django's HTML page).

    A path that only lacks its trailing slash says so, since clients often drop it.
    """
    detail = f"No API endpoint at {request.path}. The endpoints are listed at /api/docs/."
    if not request.path.endswith("/"):
        try:
            resolve(request.path + "/")
            detail = f"No API endpoint at {request.path}; did you mean {request.path}/ ?"
        except Resolver404:
            pass
    return JsonResponse({"detail": detail}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    """500: JSON under /api/ (clients parse it), the site's page elsewhere; never details."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"detail": "Internal error: the request failed on the server and was logged."},
            status=500,
        )
    return django_server_error(request)
