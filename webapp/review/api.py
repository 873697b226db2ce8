"""REST API for the review queue."""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.detectors.selectors import Normaliser
from webapp.review import selectors, services
from webapp.review.models import Decision, Flag, FlagStatus
from webapp.sites.access import access_site, access_site_object
from webapp.sites.roles import Capability


class DetectedBoxOutput(serializers.Serializer):
    """An object a detector found (object kinds), in image pixels."""

    label = serializers.CharField(help_text="Its class, or 'unknown' when unlike every class.")
    nearest_class = serializers.CharField(help_text="The known class it is most like.")
    x = serializers.FloatField()
    y = serializers.FloatField()
    w = serializers.FloatField()
    h = serializers.FloatField()
    confidence = serializers.FloatField()
    openness = serializers.FloatField(help_text="Higher = less like any known class.")
    unknown = serializers.BooleanField()
    reason = serializers.CharField(help_text="Why this object counts against the image.")
    named_as = serializers.CharField(
        required=False, help_text="The class a reviewer gave it (then a labelled box)."
    )


class SupersededOutput(serializers.Serializer):
    """The newer model's score of a superseded flag's image (or peak frame)."""

    version = serializers.IntegerField(source="version_id")
    version_number = serializers.IntegerField(source="version.number")
    score = serializers.FloatField()
    threshold = serializers.FloatField()
    is_flagged = serializers.BooleanField(help_text="Whether the newer model flags it too.")


class FlagOutput(serializers.ModelSerializer):
    asset = serializers.IntegerField(source="score.asset_id")
    filename = serializers.SerializerMethodField(
        help_text="The image's name; for a segment, the video's and its frames."
    )
    width = serializers.IntegerField(source="score.asset.width")
    height = serializers.IntegerField(source="score.asset.height")
    image_url = serializers.SerializerMethodField()
    display_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    heatmap_url = serializers.SerializerMethodField()
    normalised_score = serializers.SerializerMethodField(
        help_text="Share (0-1) of the version's held-out normal images that scored lower."
    )
    score = serializers.FloatField(source="score.score")
    threshold = serializers.FloatField(source="score.threshold")
    version = serializers.IntegerField(source="score.version_id")
    version_number = serializers.IntegerField(source="score.version.number")
    reviewer = serializers.SerializerMethodField()
    kind = serializers.SerializerMethodField(help_text="image, or segment (an event in a video)")
    video = serializers.IntegerField(
        source="video_id", allow_null=True, help_text="For a segment: the video asset."
    )
    start_frame = serializers.IntegerField(allow_null=True)
    end_frame = serializers.IntegerField(allow_null=True)
    peak_frame = serializers.SerializerMethodField()
    start_s = serializers.SerializerMethodField()
    end_s = serializers.SerializerMethodField()
    preview_url = serializers.SerializerMethodField()
    boxes = DetectedBoxOutput(source="score.details.boxes", many=True, default=list, read_only=True)
    superseded_by = SupersededOutput(
        allow_null=True,
        read_only=True,
        help_text="For a superseded flag: the score of the model that took over (or null).",
    )
    reasons = serializers.ListField(
        source="score.details.reasons",
        child=serializers.CharField(),
        default=list,
        read_only=True,
        help_text="Site rules the image breaks (a forbidden class seen, a count off).",
    )

    class Meta:
        model = Flag
        fields = [
            "id",
            "asset",
            "filename",
            "width",
            "height",
            "image_url",
            "display_url",
            "thumbnail_url",
            "heatmap_url",
            "score",
            "threshold",
            "normalised_score",
            "version",
            "version_number",
            "status",
            "reviewer",
            "reviewed_at",
            "note",
            "created_at",
            "kind",
            "video",
            "start_frame",
            "end_frame",
            "peak_frame",
            "start_s",
            "end_s",
            "preview_url",
            "boxes",
            "reasons",
            "superseded_by",
        ]

    def get_filename(self, flag: Flag) -> str:
        if flag.is_segment:
            return f"{flag.video.filename} frames {flag.start_frame}-{flag.end_frame}"
        return flag.score.asset.filename

    def get_kind(self, flag: Flag) -> str:
        return "segment" if flag.is_segment else "image"

    def get_peak_frame(self, flag: Flag) -> int | None:
        return flag.score.asset.frame_index if flag.is_segment else None

    def _fps(self, flag: Flag) -> float | None:
        video = getattr(flag.video, "video", None) if flag.is_segment else None
        return video.fps if video else None

    def get_start_s(self, flag: Flag) -> float | None:
        fps = self._fps(flag)
        return flag.start_frame / fps if fps and flag.start_frame is not None else None

    def get_end_s(self, flag: Flag) -> float | None:
        """Time just after the last frame of the segment."""
        fps = self._fps(flag)
        return (flag.end_frame + 1) / fps if fps and flag.end_frame is not None else None

    def get_preview_url(self, flag: Flag) -> str | None:
        video = getattr(flag.video, "video", None) if flag.is_segment else None
        return f"/api/assets/{flag.video_id}/preview/" if video and video.preview else None

    def get_image_url(self, flag: Flag) -> str:
        """The image; for a segment, its peak frame."""
        return f"/api/assets/{flag.score.asset_id}/image/"

    def get_display_url(self, flag: Flag) -> str:
        """What pages show: the image (peak frame) as a JPEG a browser decodes."""
        return f"/api/assets/{flag.score.asset_id}/display/"

    def get_thumbnail_url(self, flag: Flag) -> str:
        return f"/api/assets/{flag.score.asset_id}/thumbnail/"

    def get_normalised_score(self, flag: Flag) -> float | None:
        normalise = self.context.setdefault("normalise", Normaliser())
        return normalise(flag.score.version, flag.score.score)

    def get_heatmap_url(self, flag: Flag) -> str | None:
        """Overlay of where the image looks abnormal; null for kinds without heatmaps."""
        return f"/api/flags/{flag.pk}/heatmap/" if flag.score.heatmap else None

    def get_reviewer(self, flag: Flag) -> str | None:
        return flag.reviewer.get_username() if flag.reviewer else None


class FlagListView(generics.ListAPIView):
    """Flags of a site, highest score first (``?status=pending`` for the queue)."""

    serializer_class = FlagOutput

    @extend_schema(parameters=[OpenApiParameter("status", str, enum=FlagStatus.values)])
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        site = access_site(self.request.user, self.kwargs["slug"], Capability.VIEW)
        flag_status = self.request.query_params.get("status") or None
        if flag_status and flag_status not in FlagStatus.values:
            raise serializers.ValidationError({"status": [f"unknown status '{flag_status}'."]})
        return selectors.flags_of(site, status=flag_status)


def accessible_flag(request: Request, flag_id: int, capability: Capability) -> Flag:
    flag = selectors.flag_with_site(flag_id)
    return access_site_object(request.user, flag, capability, name=f"Flag {flag_id}")


class FlagDetailView(APIView):
    @extend_schema(responses=FlagOutput)
    def get(self, request: Request, flag_id: int) -> Response:
        return Response(FlagOutput(accessible_flag(request, flag_id, Capability.VIEW)).data)


class FlagHeatmapView(APIView):
    """The flag's heatmap overlay (transparent PNG at the image's size); 404 if none."""

    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request: Request, flag_id: int) -> FileResponse:
        flag = accessible_flag(request, flag_id, Capability.VIEW)
        if not flag.score.heatmap:
            raise NotFound("This flag has no heatmap: its detector kind does not localise.")
        response = FileResponse(flag.score.heatmap.open("rb"), content_type="image/png")
        response["Cache-Control"] = "private, max-age=3600"
        return response


class FlagReviewView(APIView):
    class ReviewInput(serializers.Serializer):
        decision = serializers.ChoiceField(choices=Decision.choices)
        note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)

    @extend_schema(request=ReviewInput, responses=FlagOutput)
    def post(self, request: Request, flag_id: int) -> Response:
        """Confirm (anomaly) or reject (normal) a pending flag; 409 if already reviewed."""
        accessible_flag(request, flag_id, Capability.REVIEW)
        data = self.ReviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.review_flag(flag_id=flag_id, reviewer=request.user, **data.validated_data)
        return Response(FlagOutput(selectors.flag_with_site(flag_id)).data)


class FlagUndoView(APIView):
    @extend_schema(request=None, responses=FlagOutput)
    def post(self, request: Request, flag_id: int) -> Response:
        """Put a reviewed flag back in the queue."""
        accessible_flag(request, flag_id, Capability.REVIEW)
        services.undo_review(flag_id=flag_id, user=request.user)
        return Response(FlagOutput(selectors.flag_with_site(flag_id)).data)
