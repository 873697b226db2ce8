"""``GET /api/health/``: is the database, the broker and at least one worker up."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.health.selectors import health_report

_Check = inline_serializer(
    "HealthCheck",
    {"ok": serializers.BooleanField(), "error": serializers.CharField(required=False)},
)
_Report = inline_serializer(
    "Health",
    {
        "status": serializers.ChoiceField(choices=["ok", "degraded", "down"]),
        "database": _Check,
        "broker": _Check,
        "workers": inline_serializer(
            "HealthWorkers",
            {
                "ok": serializers.BooleanField(),
                "alive": serializers.IntegerField(),
                "last_seen": serializers.DateTimeField(allow_null=True),
                "stale_after_s": serializers.IntegerField(),
            },
        ),
        "jobs": serializers.DictField(child=serializers.IntegerField(), allow_null=True),
    },
)


class HealthView(APIView):
    """For load balancers and monitors: no sign-in; says nothing beyond up or down."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        responses={200: _Report, 503: OpenApiResponse(_Report, description="no database")}
    )
    def get(self, request: Request) -> Response:
        report = health_report()
        code = status.HTTP_503_SERVICE_UNAVAILABLE if report["status"] == "down" else 200
        return Response(report, status=code)
