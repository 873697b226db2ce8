"""REST API for uploads and assets."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.utils.cache import get_conditional_response
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import generics, serializers, status
from rest_framework.parsers import BaseParser, FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.assets import renditions, selectors, services, video_services
from webapp.assets.image_validation import InvalidImage
from webapp.assets.models import Asset, MediaType, Purpose, Upload, Video
from webapp.assets.video_validation import InvalidVideo
from webapp.review.models import FlagStatus
from webapp.sites import deletion
from webapp.sites.access import access_site, access_site_object
from webapp.sites.roles import Capability


class DeletedOutput(serializers.Serializer):
    """What a deletion took with it (counts)."""

    deleted = serializers.DictField(child=serializers.IntegerField())


class VideoOutput(serializers.ModelSerializer):
    status = serializers.CharField(
        source="extraction_status", help_text="extracting, ready or failed"
    )
    frames_stored = serializers.SerializerMethodField()
    preview_url = serializers.SerializerMethodField()
    has_truth = serializers.SerializerMethodField()

    class Meta:
        model = Video
        fields = [
            "status",
            "progress",
            "error",
            "fps",
            "frame_count",
            "duration_s",
            "codec",
            "sample_fps",
            "expected_frames",
            "frames_stored",
            "preview_url",
            "preview_fps",
            "has_truth",
        ]

    def get_frames_stored(self, video: Video) -> int:
        counted = getattr(video.asset, "n_frames", None)  # lists annotate it: no query each
        return counted if counted is not None else video.asset.frames.count()

    def get_preview_url(self, video: Video) -> str | None:
        return f"/api/assets/{video.asset_id}/preview/" if video.preview else None

    def get_has_truth(self, video: Video) -> bool:
        return bool(video.truth)


class AssetOutput(serializers.ModelSerializer):
    image_url = serializers.SerializerMethodField(help_text="the original file")
    display_url = serializers.SerializerMethodField(help_text="a JPEG browsers show")
    thumbnail_url = serializers.SerializerMethodField()
    mask_url = serializers.SerializerMethodField()
    video = serializers.SerializerMethodField()

    class Meta:
        model = Asset
        fields = [
            "id",
            "filename",
            "purpose",
            "upload",
            "checksum",
            "size_bytes",
            "width",
            "height",
            "image_format",
            "label",
            "created_at",
            "image_url",
            "display_url",
            "thumbnail_url",
            "mask_url",
            "media_type",
            "source_video",
            "frame_index",
            "timestamp_s",
            "video",
        ]

    @extend_schema_field(VideoOutput(allow_null=True))
    def get_video(self, asset: Asset) -> dict[str, Any] | None:
        """For videos: their facts and extraction status; null for images and frames."""
        if asset.media_type != MediaType.VIDEO or not hasattr(asset, "video"):
            return None
        return VideoOutput(asset.video).data

    def get_image_url(self, asset: Asset) -> str:
        return f"/api/assets/{asset.pk}/image/"

    def get_display_url(self, asset: Asset) -> str | None:
        return None if asset.media_type == MediaType.VIDEO else f"/api/assets/{asset.pk}/display/"

    def get_thumbnail_url(self, asset: Asset) -> str | None:
        if asset.media_type == MediaType.VIDEO:
            return None
        return f"/api/assets/{asset.pk}/thumbnail/"

    def get_mask_url(self, asset: Asset) -> str | None:
        return f"/api/assets/{asset.pk}/mask/" if asset.mask else None


class RejectedFile(serializers.Serializer):
    filename = serializers.CharField()
    error = serializers.CharField()


class UploadOutput(serializers.Serializer):
    id = serializers.IntegerField()
    purpose = serializers.CharField()
    assets = serializers.ListField(child=serializers.DictField())
    rejected = RejectedFile(many=True)
    masked = serializers.ListField(
        child=serializers.DictField(), help_text="Assets that received a NAME_mask.png."
    )


def incoming_files(request: Request | HttpRequest) -> list[services.IncomingFile]:
    """The ``files`` of a multipart request (API or page form) as services' IncomingFile."""
    return [
        services.IncomingFile(name=f.name, handle=f, size=f.size)
        for f in request.FILES.getlist("files")
    ]


class UploadCreateView(APIView):
    """Upload images, videos or .zip archives (multipart, field ``files``, repeatable).

    Videos are probed and stored at once and listed with status ``extracting``; a worker
    then extracts their frames. ``NAME.truth.csv`` beside ``NAME.mp4`` is its frame truth.
    """

    parser_classes = [MultiPartParser, FormParser]

    class UploadInput(serializers.Serializer):
        purpose = serializers.ChoiceField(choices=Purpose.choices)
        files = serializers.ListField(child=serializers.FileField(), allow_empty=False)

    @extend_schema(request=UploadInput, responses={201: UploadOutput})
    def post(self, request: Request, slug: str) -> Response:
        site = access_site(request.user, slug, Capability.UPLOAD)
        if _body_unread(request):
            return Response(
                {
                    "detail": "The upload was sent with chunked transfer encoding and no "
                    "Content-Length, so its body could not be read. Send it with a "
                    "Content-Length (e.g. curl -F purpose=train -F files=@photos.zip ...)."
                },
                status=status.HTTP_411_LENGTH_REQUIRED,
            )
        purpose = request.data.get("purpose", "")
        if purpose not in Purpose.values:
            given = f"got {purpose!r}" if purpose else "none was given"
            raise serializers.ValidationError(
                {
                    "purpose": [
                        f"purpose must be one of {', '.join(Purpose.values)} ({given}): train "
                        "for known-normal images, score for new images to check."
                    ]
                }
            )
        result = services.create_upload(
            site=site, user=request.user, purpose=purpose, files=incoming_files(request)
        )
        assert result.upload is not None
        payload = {
            "id": result.upload.pk,
            "purpose": purpose,
            "assets": [
                {"id": a.pk, "filename": a.filename, "media_type": a.media_type}
                | ({"status": "extracting"} if a.media_type == MediaType.VIDEO else {})
                for a in result.assets
            ],
            "rejected": result.rejected,
            "masked": [{"id": a.pk, "filename": a.filename} for a in result.masked],
        }
        return Response(payload, status=status.HTTP_201_CREATED)


def _body_unread(request: Request) -> bool:
    """A chunked request without Content-Length: WSGI hands Django an empty body."""
    chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    return chunked and not request.META.get("CONTENT_LENGTH")


class AssetListView(generics.ListAPIView):
    serializer_class = AssetOutput

    @extend_schema(
        parameters=[
            OpenApiParameter("purpose", str, enum=Purpose.values),
            OpenApiParameter("flag_status", str, enum=FlagStatus.values),
            OpenApiParameter(
                "media_type",
                str,
                enum=MediaType.values,
                description="Default: images and videos (frames only when asked for).",
            ),
        ]
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        site = access_site(self.request.user, self.kwargs["slug"], Capability.VIEW)
        purpose = self.request.query_params.get("purpose") or None
        flag_status = self.request.query_params.get("flag_status") or None
        if purpose and purpose not in Purpose.values:
            raise serializers.ValidationError({"purpose": [f"unknown purpose '{purpose}'."]})
        if flag_status and flag_status not in FlagStatus.values:
            raise serializers.ValidationError({"flag_status": [f"unknown status '{flag_status}'."]})
        media_type = self.request.query_params.get("media_type") or None
        if media_type and media_type not in MediaType.values:
            raise serializers.ValidationError({"media_type": [f"unknown type '{media_type}'."]})
        return selectors.assets_of(
            site, purpose=purpose, flag_status=flag_status, media_type=media_type
        )


def accessible_asset(request: Request, asset_id: int, capability: Capability) -> Asset:
    asset = Asset.objects.select_related("site", "video").filter(pk=asset_id).first()
    return access_site_object(request.user, asset, capability, name=f"Asset {asset_id}")


class AssetDetailView(APIView):
    class LabelInput(serializers.Serializer):
        label = serializers.CharField(max_length=100, allow_blank=True, required=False)

        def validate(self, attrs: dict) -> dict:  # type: ignore[type-arg]
            unknown = sorted(set(self.initial_data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    f"{', '.join(unknown)} cannot be changed; editable: {', '.join(self.fields)}."
                )
            return attrs

    @extend_schema(responses=AssetOutput)
    def get(self, request: Request, asset_id: int) -> Response:
        return Response(AssetOutput(accessible_asset(request, asset_id, Capability.VIEW)).data)

    @extend_schema(request=LabelInput, responses=AssetOutput)
    def patch(self, request: Request, asset_id: int) -> Response:
        """Change what is given (a partial update): the class label, for label-aware kinds."""
        asset = accessible_asset(request, asset_id, Capability.UPLOAD)
        data = self.LabelInput(data=request.data)
        data.is_valid(raise_exception=True)
        if "label" in data.validated_data:
            asset = services.set_asset_label(asset=asset, label=data.validated_data["label"])
        return Response(AssetOutput(asset).data)

    @extend_schema(responses=DeletedOutput)
    def delete(self, request: Request, asset_id: int) -> Response:
        """Delete the asset (a video with its frames), its files, scores, flags and reviews.

        Uploaders and admins; 409 while a job is running on it.
        """
        asset = accessible_asset(request, asset_id, Capability.UPLOAD)
        impact = deletion.delete_asset(asset=asset, actor=request.user)
        return Response({"deleted": impact.as_dict()})


class UploadDetailOutput(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    site = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    assets = serializers.SerializerMethodField()

    class Meta:
        model = Upload
        fields = ["id", "site", "purpose", "created_by", "created_at", "rejected", "assets"]

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_assets(self, upload: Upload) -> list[dict[str, Any]]:
        """Its images and videos (a video's frames are listed on the video)."""
        rows = selectors.assets_of_upload(upload).values("id", "filename", "media_type")
        return list(rows)


class UploadDetailView(APIView):
    """One upload: what was stored and refused; uploaders and admins may delete it."""

    def _upload(self, request: Request, upload_id: int, capability: Capability) -> Upload:
        upload = Upload.objects.select_related("site", "created_by").filter(pk=upload_id).first()
        return access_site_object(request.user, upload, capability, name=f"Upload {upload_id}")

    @extend_schema(responses=UploadDetailOutput)
    def get(self, request: Request, upload_id: int) -> Response:
        return Response(UploadDetailOutput(self._upload(request, upload_id, Capability.VIEW)).data)

    @extend_schema(responses=DeletedOutput)
    def delete(self, request: Request, upload_id: int) -> Response:
        """Delete the upload and every asset in it, as ``DELETE /api/assets/{id}/`` each."""
        upload = self._upload(request, upload_id, Capability.UPLOAD)
        impact = deletion.delete_upload(upload=upload, actor=request.user)
        return Response({"deleted": impact.as_dict()})


#: An asset's pixels never change (a new file is a new asset), so browsers keep its image
#: and renditions a day, then revalidate them by ETag (304, nothing read from storage).
IMAGE_CACHE_CONTROL = "private, max-age=86400"


def _cached_image(request: Request, etag: str, respond: Callable[[], HttpResponse]) -> HttpResponse:
    """304 when the browser's copy is current (after the access check), else the file."""
    response = get_conditional_response(request, etag=etag) or respond()
    response["ETag"] = etag
    response["Cache-Control"] = IMAGE_CACHE_CONTROL
    return response


class AssetImageView(APIView):
    """The image file itself, for members of the asset's site only."""

    @extend_schema(responses={(200, "image/*"): OpenApiTypes.BINARY, 304: None})
    def get(self, request: Request, asset_id: int) -> HttpResponse:
        asset = accessible_asset(request, asset_id, Capability.VIEW)
        etag = f'"{asset.checksum[:32]}"'
        return _cached_image(
            request,
            etag,
            lambda: FileResponse(asset.file.open("rb"), filename=asset.filename.rsplit("/", 1)[-1]),
        )


class AssetRenditionView(APIView):
    """A JPEG every browser shows: ``display`` (long side <= 2048 px) or ``thumbnail``.

    The original when it already is such an image; otherwise made once and kept.
    """

    which = "display"

    @extend_schema(responses={(200, "image/*"): OpenApiTypes.BINARY, 304: None})
    def get(self, request: Request, asset_id: int) -> HttpResponse:
        asset = accessible_asset(request, asset_id, Capability.VIEW)
        if asset.media_type == MediaType.VIDEO:
            raise Http404(f"Asset {asset_id} is a video; its frames have images.")

        def respond() -> HttpResponse:
            if renditions.serves_original(asset, self.which):
                return FileResponse(asset.file.open("rb"))
            name = renditions.rendition(asset, self.which)
            return FileResponse(default_storage.open(name, "rb"), content_type="image/jpeg")

        return _cached_image(request, renditions.etag(asset, self.which), respond)


class AssetThumbnailView(AssetRenditionView):
    which = "thumbnail"


class AssetMaskView(APIView):
    """The asset's defect mask (white = defect): read, replace (multipart ``file``), remove."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request: Request, asset_id: int) -> FileResponse:
        asset = accessible_asset(request, asset_id, Capability.VIEW)
        if not asset.mask:
            raise Http404(f"Asset {asset_id} has no mask.")
        return FileResponse(asset.mask.open("rb"), content_type="image/png")

    @extend_schema(
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        },
        responses=AssetOutput,
    )
    def put(self, request: Request, asset_id: int) -> Response:
        asset = accessible_asset(request, asset_id, Capability.UPLOAD)
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationError({"file": "Attach the mask image as 'file'."})
        if upload.size > settings.MAX_IMAGE_BYTES:
            raise ValidationError({"file": "The mask file is too large."})
        try:
            services.attach_mask(asset=asset, data=upload.read())
        except InvalidImage as exc:
            raise ValidationError({"file": str(exc)}) from None
        return Response(AssetOutput(asset).data)

    @extend_schema(responses=AssetOutput)
    def delete(self, request: Request, asset_id: int) -> Response:
        asset = accessible_asset(request, asset_id, Capability.UPLOAD)
        return Response(AssetOutput(services.remove_mask(asset=asset)).data)


def accessible_video(request: Request, asset_id: int, capability: Capability) -> Asset:
    asset = accessible_asset(request, asset_id, capability)
    if asset.media_type != MediaType.VIDEO or not hasattr(asset, "video"):
        raise Http404(f"Asset {asset_id} is not a video.")
    return asset


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class AssetPreviewView(APIView):
    """The video's browser preview (WebM VP8, downscaled), with HTTP range requests.

    Chromium seeks a video by asking for byte ranges; without them it cannot jump to the
    time a click on the score curve names.
    """

    @extend_schema(responses={(200, "video/webm"): OpenApiTypes.BINARY})
    def get(self, request: Request, asset_id: int) -> HttpResponse:
        video = accessible_video(request, asset_id, Capability.VIEW).video
        if not video.preview:
            raise Http404("The preview is not ready yet (frames are being extracted).")
        size = video.preview.size
        match = _RANGE.match(request.headers.get("Range", "").strip())
        if match and (match.group(1) or match.group(2)):
            if match.group(1):
                start = int(match.group(1))
                end = min(int(match.group(2) or size - 1), size - 1)
            else:
                start, end = max(0, size - int(match.group(2))), size - 1
            if start >= size or start > end:
                response = HttpResponse(status=416)
                response["Content-Range"] = f"bytes */{size}"
                return response
            with video.preview.open("rb") as handle:
                handle.seek(start)
                body = handle.read(end - start + 1)
            response = HttpResponse(body, status=206, content_type="video/webm")
            response["Content-Range"] = f"bytes {start}-{end}/{size}"
        else:
            response = FileResponse(video.preview.open("rb"), content_type="video/webm")
        response["Accept-Ranges"] = "bytes"
        response["Cache-Control"] = "private, max-age=3600"
        return response


class FrameLabelsOutput(serializers.Serializer):
    video = serializers.IntegerField()
    frame_count = serializers.IntegerField()
    labels = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text="[frame_index, label] pairs; label 1 = abnormal, 0 = normal.",
    )


def _frame_labels(video: Video) -> dict[str, Any]:
    return {
        "video": video.asset_id,
        "frame_count": video.frame_count,
        "labels": [[int(index), label] for index, label in video.truth.items()],
    }


class PlainTextParser(BaseParser):
    """CSV frame labels sent as the request body (``text/csv`` or ``text/plain``)."""

    media_type = "text/*"

    def parse(self, stream, media_type=None, parser_context=None):  # type: ignore[no-untyped-def]
        return {"text": stream.read().decode("utf-8-sig", errors="replace")}


class FrameLabelsView(APIView):
    """A video's frame truth, for evaluation (like masks for images).

    PUT replaces it: CSV ``frame_index,label`` (body ``text/csv``, or multipart ``file``)
    or JSON (``{"0": 0, "1": 1}``, ``[[0, 1], ...]`` or ``[{"frame_index": 0, "label": 1}]``).
    """

    parser_classes = [JSONParser, MultiPartParser, FormParser, PlainTextParser]

    @extend_schema(responses=FrameLabelsOutput)
    def get(self, request: Request, asset_id: int) -> Response:
        video = accessible_video(request, asset_id, Capability.VIEW).video
        return Response(_frame_labels(video))

    @extend_schema(
        request={
            "text/csv": OpenApiTypes.STR,
            "application/json": OpenApiTypes.OBJECT,
            "multipart/form-data": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
            },
        },
        responses=FrameLabelsOutput,
    )
    def put(self, request: Request, asset_id: int) -> Response:
        asset = accessible_video(request, asset_id, Capability.UPLOAD)
        text = _labels_text(request)
        try:
            video = video_services.set_frame_truth(asset=asset, text=text)
        except InvalidVideo as exc:
            raise ValidationError({"labels": str(exc)}) from None
        return Response(_frame_labels(video))


def _labels_text(request: Request) -> str:
    upload = request.FILES.get("file")
    if upload is not None:
        if upload.size > settings.MAX_IMAGE_BYTES:
            raise ValidationError({"file": "The frame labels file is too large."})
        return upload.read().decode("utf-8-sig", errors="replace")
    data = request.data
    if isinstance(data, dict) and set(data) == {"text"}:
        return str(data["text"])
    if isinstance(data, dict | list) and data:
        return json.dumps(data)
    raise ValidationError({"labels": "Send CSV (frame_index,label), JSON, or a file as 'file'."})


class FrameScoresView(APIView):
    """Per-frame scores of a video by one version (default: the newest that scored it),
    with its threshold and event segments: the data of the score curve."""

    @extend_schema(
        parameters=[OpenApiParameter("version", int, description="version id")],
        responses=inline_serializer(
            "FrameScores",
            {
                "video": serializers.IntegerField(),
                "version": serializers.IntegerField(allow_null=True),
                "version_number": serializers.IntegerField(allow_null=True),
                "threshold": serializers.FloatField(allow_null=True),
                "fps": serializers.FloatField(),
                "duration_s": serializers.FloatField(),
                "versions": serializers.ListField(child=serializers.IntegerField()),
                "frames": serializers.ListField(
                    child=serializers.DictField(),
                    help_text="{asset, index, t, score}; score null before scoring",
                ),
                "segments": serializers.ListField(
                    child=serializers.DictField(),
                    help_text="{flag, status, start_frame, end_frame, peak_frame, "
                    "peak_score, start_s, end_s, version}",
                ),
            },
        ),
    )
    def get(self, request: Request, asset_id: int) -> Response:
        asset = accessible_video(request, asset_id, Capability.VIEW)
        return Response(selectors.frame_scores_payload(asset, request.query_params.get("version")))
