"""REST API for detector versions, activation and scoring jobs."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.detectors import selectors, services
from webapp.detectors.models import DetectorVersion, ScoringJob, ThresholdMethod
from webapp.sites import deletion
from webapp.sites.access import access_site, access_site_object
from webapp.sites.roles import Capability


class RecallOutput(serializers.Serializer):
    found = serializers.IntegerField()
    total = serializers.IntegerField()
    low = serializers.FloatField(help_text="95 % Clopper-Pearson interval, lower end")
    high = serializers.FloatField()


class CalibrationOutput(serializers.Serializer):
    """What the threshold promises; null before training finished (or for old versions)."""

    method = serializers.ChoiceField(choices=["crossfit", "holdout"])
    n_calibration = serializers.IntegerField()
    target_fpr = serializers.FloatField(allow_null=True)
    guaranteed_fpr = serializers.FloatField()
    expected_false_alarms_per_100 = serializers.FloatField()
    fpr_bound_90 = serializers.FloatField(
        help_text="False-positive rate this site's threshold keeps with 90 % confidence "
        "(guaranteed_fpr is an average over sites)"
    )
    target_fpr_kept = serializers.BooleanField()
    more_normals_needed = serializers.IntegerField()
    recall = RecallOutput(allow_null=True)
    message = serializers.CharField()


class VersionOutput(serializers.ModelSerializer):
    site = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    is_active = serializers.BooleanField(read_only=True)
    manifest_counts = serializers.SerializerMethodField()
    calibration = serializers.SerializerMethodField()

    class Meta:
        model = DetectorVersion
        fields = [
            "id",
            "site",
            "number",
            "kind",
            "params",
            "status",
            "progress",
            "progress_message",
            "threshold",
            "threshold_method",
            "target_fpr",
            "metrics",
            "calibration",
            "error",
            "is_active",
            "manifest_counts",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_manifest_counts(self, version: DetectorVersion) -> dict[str, int]:
        return {key: len(ids) for key, ids in (version.manifest or {}).items()}

    @extend_schema_field(CalibrationOutput(allow_null=True))
    def get_calibration(self, version: DetectorVersion) -> dict[str, Any] | None:
        return selectors.calibration_summary(version)


class VersionListCreateView(generics.ListAPIView):
    serializer_class = VersionOutput

    class VersionInput(serializers.Serializer):
        kind = serializers.CharField(
            default="auto", help_text="a kind of /api/detector-kinds/; auto tries them for you"
        )
        params = serializers.DictField(required=False, default=dict)
        threshold_method = serializers.ChoiceField(
            choices=ThresholdMethod.choices, default=ThresholdMethod.FPR
        )
        target_fpr = serializers.FloatField(required=False, allow_null=True, default=None)
        fixed_threshold = serializers.FloatField(required=False, allow_null=True, default=None)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        site = access_site(self.request.user, self.kwargs["slug"], Capability.VIEW)
        return selectors.versions_of(site)

    @extend_schema(request=VersionInput, responses={202: VersionOutput})
    def post(self, request: Request, slug: str) -> Response:
        """Train a new version on the site's known-normal images (runs in a worker)."""
        site = access_site(request.user, slug, Capability.MANAGE)
        data = self.VersionInput(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.request_training(site=site, user=request.user, **data.validated_data)
        return Response(VersionOutput(version).data, status=status.HTTP_202_ACCEPTED)


def accessible_version(
    request: Request, version_id: int, capability: Capability
) -> DetectorVersion:
    version = selectors.version_with_site(version_id)
    return access_site_object(request.user, version, capability, name=f"Version {version_id}")


class VersionDetailView(APIView):
    @extend_schema(responses=VersionOutput)
    def get(self, request: Request, version_id: int) -> Response:
        return Response(
            VersionOutput(accessible_version(request, version_id, Capability.VIEW)).data
        )

    @extend_schema(
        responses=inline_serializer(
            "VersionDeleted", {"deleted": serializers.DictField(child=serializers.IntegerField())}
        )
    )
    def delete(self, request: Request, version_id: int) -> Response:
        """Delete the version, its artefact, scores and flags (admins).

        409 for the site's active version (activate another first) and while it trains
        or scores.
        """
        version = accessible_version(request, version_id, Capability.MANAGE)
        impact = deletion.delete_version(version=version, actor=request.user)
        return Response({"deleted": impact.as_dict()})


class VersionManifestView(APIView):
    """Which assets the version was fitted on, calibrated on and evaluated against."""

    @extend_schema(
        responses=inline_serializer(
            "VersionManifest",
            {
                name: serializers.ListField(child=serializers.IntegerField())
                for name in ("fit", "holdout", "anomalies")
            },
        )
    )
    def get(self, request: Request, version_id: int) -> Response:
        return Response(accessible_version(request, version_id, Capability.VIEW).manifest)


class VersionEvaluationView(APIView):
    """Raw scores the threshold and metrics were computed from: ``[asset id, score]`` pairs."""

    @extend_schema(
        responses=inline_serializer(
            "VersionEvaluation",
            {
                name: serializers.ListField(child=serializers.ListField())
                for name in ("holdout", "anomalies")
            },
        )
    )
    def get(self, request: Request, version_id: int) -> Response:
        return Response(accessible_version(request, version_id, Capability.VIEW).evaluation)


class VersionActivateView(APIView):
    @extend_schema(request=None, responses=VersionOutput)
    def post(self, request: Request, version_id: int) -> Response:
        """Make this version score the site's uploads (also how to roll back)."""
        version = accessible_version(request, version_id, Capability.MANAGE)
        version = services.activate_version(version=version, actor=request.user)
        return Response(VersionOutput(version).data)


class ScoringJobOutput(serializers.ModelSerializer):
    version = serializers.PrimaryKeyRelatedField(read_only=True)
    chunks = serializers.IntegerField(source="n_chunks", read_only=True, default=None)
    chunks_done = serializers.IntegerField(source="n_chunks_done", read_only=True, default=None)

    class Meta:
        model = ScoringJob
        fields = [
            "id",
            "version",
            "status",
            "total",
            "chunks",
            "chunks_done",
            "error",
            "created_at",
            "finished_at",
        ]


class RescoreView(APIView):
    @extend_schema(request=None, responses={202: ScoringJobOutput})
    def post(self, request: Request, slug: str) -> Response:
        """Score every score-purpose asset again with the site's active version."""
        site = access_site(request.user, slug, Capability.MANAGE)
        job = services.rescore_site(site=site)
        if job is None:
            return Response(
                {"detail": "No score-purpose assets to score."}, status=status.HTTP_200_OK
            )
        job = selectors.scoring_job_with_progress(job.pk)
        return Response(ScoringJobOutput(job).data, status=status.HTTP_202_ACCEPTED)


class ScoringJobListView(generics.ListAPIView):
    serializer_class = ScoringJobOutput

    def get_queryset(self):  # type: ignore[no-untyped-def]
        site = access_site(self.request.user, self.kwargs["slug"], Capability.VIEW)
        return selectors.scoring_jobs_of(site)


class ScoringJobDetailView(APIView):
    @extend_schema(responses=ScoringJobOutput)
    def get(self, request: Request, job_id: int) -> Response:
        job = selectors.scoring_job_with_progress(job_id)
        access_site_object(request.user, job, Capability.VIEW, name=f"Scoring job {job_id}")
        return Response(ScoringJobOutput(job).data)


class DetectorKindsView(APIView):
    """The detector kinds this installation offers, with their default parameters."""

    @extend_schema(
        responses=inline_serializer(
            "DetectorKind",
            {
                "kind": serializers.CharField(),
                "title": serializers.CharField(help_text="The kind's name in plain words."),
                "summary": serializers.CharField(
                    help_text="One sentence for people who do not know the method."
                ),
                "defaults": serializers.DictField(),
                "schema": serializers.DictField(
                    help_text="JSON Schema of the parameters: per field its type, range or "
                    "choices, default and a plain-language description."
                ),
                "uses_gpu": serializers.BooleanField(),
                "needs_labels": serializers.BooleanField(),
                "needs_boxes": serializers.BooleanField(),
                "description": serializers.CharField(),
            },
            many=True,
        )
    )
    def get(self, request: Request) -> Response:
        return Response(selectors.detector_kinds())
