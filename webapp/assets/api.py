"""REST API for uploads and assets."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.assets import selectors, services
from webapp.assets.image_validation import InvalidImage
from webapp.assets.models import Asset, Purpose
from webapp.review.models import FlagStatus
from webapp.sites.access import access_site, access_site_object
from webapp.sites.roles import Capability


class AssetOutput(serializers.ModelSerializer):
    image_url = serializers.SerializerMethodField()
    mask_url = serializers.SerializerMethodField()

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
            "mask_url",
        ]

    def get_image_url(self, asset: Asset) -> str:
        return f"/api/assets/{asset.pk}/image/"

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
    """Upload images or .zip archives (multipart, field ``files``, repeatable)."""

    parser_classes = [MultiPartParser, FormParser]

    class UploadInput(serializers.Serializer):
        purpose = serializers.ChoiceField(choices=Purpose.choices)
        files = serializers.ListField(child=serializers.FileField(), allow_empty=False)

    @extend_schema(request=UploadInput, responses={201: UploadOutput})
    def post(self, request: Request, slug: str) -> Response:
        site = access_site(request.user, slug, Capability.UPLOAD)
        purpose = request.data.get("purpose", "")
        if purpose not in Purpose.values:
            raise serializers.ValidationError(
                {"purpose": [f"purpose must be one of {', '.join(Purpose.values)}."]}
            )
        result = services.create_upload(
            site=site, user=request.user, purpose=purpose, files=incoming_files(request)
        )
        assert result.upload is not None
        payload = {
            "id": result.upload.pk,
            "purpose": purpose,
            "assets": [{"id": a.pk, "filename": a.filename} for a in result.assets],
            "rejected": result.rejected,
            "masked": [{"id": a.pk, "filename": a.filename} for a in result.masked],
        }
        return Response(payload, status=status.HTTP_201_CREATED)


class AssetListView(generics.ListAPIView):
    serializer_class = AssetOutput

    @extend_schema(
        parameters=[
            OpenApiParameter("purpose", str, enum=Purpose.values),
            OpenApiParameter("flag_status", str, enum=FlagStatus.values),
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
        return selectors.assets_of(site, purpose=purpose, flag_status=flag_status)


def accessible_asset(request: Request, asset_id: int, capability: Capability) -> Asset:
    asset = Asset.objects.select_related("site").filter(pk=asset_id).first()
    return access_site_object(request.user, asset, capability, name=f"Asset {asset_id}")


class AssetDetailView(APIView):
    class LabelInput(serializers.Serializer):
        label = serializers.CharField(max_length=100, allow_blank=True)

    @extend_schema(responses=AssetOutput)
    def get(self, request: Request, asset_id: int) -> Response:
        return Response(AssetOutput(accessible_asset(request, asset_id, Capability.VIEW)).data)

    @extend_schema(request=LabelInput, responses=AssetOutput)
    def patch(self, request: Request, asset_id: int) -> Response:
        """Set the asset's class label (used by label-aware detector kinds)."""
        asset = accessible_asset(request, asset_id, Capability.UPLOAD)
        data = self.LabelInput(data=request.data)
        data.is_valid(raise_exception=True)
        asset = services.set_asset_label(asset=asset, label=data.validated_data["label"])
        return Response(AssetOutput(asset).data)


class AssetImageView(APIView):
    """The image file itself, for members of the asset's site only."""

    @extend_schema(responses={(200, "image/*"): OpenApiTypes.BINARY})
    def get(self, request: Request, asset_id: int) -> FileResponse:
        asset = accessible_asset(request, asset_id, Capability.VIEW)
        response = FileResponse(asset.file.open("rb"), filename=asset.filename.rsplit("/", 1)[-1])
        response["Cache-Control"] = "private, max-age=3600"
        return response


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
