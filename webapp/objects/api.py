"""REST API for a site's object classes, the boxes of its assets, COCO in and out, and
naming a detected object from the review queue."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.assets.api import accessible_asset
from webapp.objects import selectors, services
from webapp.objects.models import ObjectClass
from webapp.review.api import FlagOutput, accessible_flag
from webapp.review.rows import flag_row
from webapp.review.selectors import flag_with_site
from webapp.sites.access import access_site, can, check_capability
from webapp.sites.roles import Capability


class ClassOutput(serializers.ModelSerializer):
    n_boxes = serializers.IntegerField(read_only=True, help_text="Boxes drawn of this class.")

    class Meta:
        model = ObjectClass
        fields = ["id", "name", "colour", "expected", "forbidden", "n_boxes"]


class ClassInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    colour = serializers.RegexField(r"^#[0-9a-fA-F]{6}$", required=False)
    expected = serializers.IntegerField(
        min_value=0, required=False, allow_null=True, help_text="Count expected per image."
    )
    forbidden = serializers.BooleanField(required=False, default=False)


class ClassPatchInput(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    colour = serializers.RegexField(r"^#[0-9a-fA-F]{6}$", required=False)
    expected = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    forbidden = serializers.BooleanField(required=False)


def _with_count(object_class: ObjectClass) -> ObjectClass:
    object_class.n_boxes = object_class.boxes.count()  # type: ignore[attr-defined]
    return object_class


class ClassListView(APIView):
    """A site's object classes (creation order); admins add one."""

    @extend_schema(responses=ClassOutput(many=True))
    def get(self, request: Request, slug: str) -> Response:
        site = access_site(request.user, slug, Capability.VIEW)
        return Response(ClassOutput(selectors.classes_of(site), many=True).data)

    @extend_schema(request=ClassInput, responses={201: ClassOutput})
    def post(self, request: Request, slug: str) -> Response:
        site = access_site(request.user, slug, Capability.MANAGE)
        data = ClassInput(data=request.data)
        data.is_valid(raise_exception=True)
        object_class = services.create_class(site=site, **data.validated_data)
        return Response(ClassOutput(_with_count(object_class)).data, status=status.HTTP_201_CREATED)


def accessible_class(request: Request, class_id: int, capability: Capability) -> ObjectClass:
    object_class = selectors.class_with_site(class_id)
    if object_class is None:
        raise Http404(f"Class {class_id} not found.")
    check_capability(request.user, object_class.site, capability)
    return object_class


class ClassDetailView(APIView):
    """One class: read; admins rename it, change its colour or rules, or delete it."""

    @extend_schema(responses=ClassOutput)
    def get(self, request: Request, class_id: int) -> Response:
        object_class = accessible_class(request, class_id, Capability.VIEW)
        return Response(ClassOutput(_with_count(object_class)).data)

    @extend_schema(request=ClassPatchInput, responses=ClassOutput)
    def patch(self, request: Request, class_id: int) -> Response:
        object_class = accessible_class(request, class_id, Capability.MANAGE)
        data = ClassPatchInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        object_class = services.update_class(object_class=object_class, **data.validated_data)
        return Response(ClassOutput(_with_count(object_class)).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, class_id: int) -> Response:
        """Delete a class without boxes (409 while boxes of it remain)."""
        object_class = accessible_class(request, class_id, Capability.MANAGE)
        services.delete_class(object_class=object_class)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BoxOutput(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField(source="object_class.name")
    x = serializers.FloatField()
    y = serializers.FloatField()
    w = serializers.FloatField()
    h = serializers.FloatField()


class BoxInput(serializers.Serializer):
    label = serializers.CharField(help_text="The name of one of the site's classes.")
    x = serializers.FloatField(help_text="Left edge, image pixels.")
    y = serializers.FloatField(help_text="Top edge, image pixels.")
    w = serializers.FloatField(help_text="Width, image pixels (> 0).")
    h = serializers.FloatField(help_text="Height, image pixels (> 0).")


class BoxesRefusedOutput(serializers.Serializer):
    detail = serializers.CharField()
    errors = serializers.DictField(
        help_text='{"boxes": {"<index>": "why"}}: every refused box by its place in the list.'
    )


class AssetBoxesView(APIView):
    """The labelled objects of an image: read, or replace them all at once.

    ``PUT`` takes the whole list ``[{label, x, y, w, h}]`` (image pixels, x/y the top-left
    corner). All or nothing: if any box lies outside the image, is empty, or names a class
    the site does not have, the request is refused (400) with every bad box named by its
    index in ``errors.boxes`` and the stored boxes stay unchanged. Uploaders, reviewers and
    admins may label; viewers read.
    """

    parser_classes = [JSONParser]

    @extend_schema(responses=BoxOutput(many=True))
    def get(self, request: Request, asset_id: int) -> Response:
        asset = accessible_asset(request, asset_id, Capability.VIEW)
        return Response(BoxOutput(selectors.boxes_of(asset), many=True).data)

    @extend_schema(
        request=BoxInput(many=True), responses={200: BoxOutput(many=True), 400: BoxesRefusedOutput}
    )
    def put(self, request: Request, asset_id: int) -> Response:
        asset = accessible_asset(request, asset_id, Capability.LABEL)
        raw = request.data
        if isinstance(raw, dict) and "boxes" in raw:
            raw = raw["boxes"]
        try:
            boxes = services.set_boxes(asset=asset, boxes=raw, user=request.user)
        except services.BoxesRefused as exc:
            payload = {
                "detail": exc.message,
                "errors": {"boxes": {str(i): m for i, m in exc.errors.items()}},
            }
            return Response(payload, status=status.HTTP_400_BAD_REQUEST)
        return Response(BoxOutput(boxes, many=True).data)


class CocoImportOutput(serializers.Serializer):
    matched = serializers.ListField(
        child=serializers.DictField(), help_text="[{file_name, asset, boxes}] given boxes."
    )
    unmatched = serializers.ListField(
        child=serializers.CharField(), help_text="File names that match no image of the site."
    )
    skipped = serializers.ListField(
        child=serializers.DictField(), help_text="[{file_name, error}] matched but not usable."
    )
    created_classes = serializers.ListField(child=serializers.CharField())


class SiteCocoView(APIView):
    """COCO ``annotations.json``: export the site's boxes, or (admins) import boxes."""

    parser_classes = [MultiPartParser, JSONParser]

    @extend_schema(responses={(200, "application/json"): OpenApiTypes.OBJECT})
    def get(self, request: Request, slug: str) -> Response:
        """Every image of the site with its boxes, as a COCO detection file."""
        site = access_site(request.user, slug, Capability.VIEW)
        response = Response(services.export_coco(site=site))
        response["Content-Disposition"] = f'attachment; filename="{site.slug}-coco.json"'
        return response

    @extend_schema(
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
            },
            "application/json": OpenApiTypes.OBJECT,
        },
        responses=CocoImportOutput,
    )
    def post(self, request: Request, slug: str) -> Response:
        """Import boxes: a multipart ``file`` or the COCO object itself as the JSON body.

        Images are matched by ``file_name`` (the base name when paths differ); names that
        match nothing are listed in ``unmatched``, not an error. Missing categories become
        classes. Each matched image's boxes are replaced by the file's.
        """
        site = access_site(request.user, slug, Capability.MANAGE)
        upload = request.FILES.get("file")
        if upload is not None:
            coco = services.parse_coco_bytes(upload.read())
        elif isinstance(request.data, dict) and "images" in request.data:
            coco = dict(request.data)
        else:
            raise serializers.ValidationError(
                {"file": ["Attach the COCO annotations.json as 'file' or send it as JSON."]}
            )
        result = services.import_coco(site=site, coco=coco, user=request.user)
        return Response(CocoImportOutput(result).data)


class NameObjectView(APIView):
    """Name a detected object of a flag: it becomes a labelled box of that class."""

    class NameInput(serializers.Serializer):
        box = serializers.IntegerField(min_value=0, help_text="Index in the flag's boxes.")
        label = serializers.CharField(max_length=100)

    @extend_schema(request=NameInput, responses=FlagOutput)
    def post(self, request: Request, flag_id: int) -> Response:
        """Reviewers pick one of the site's classes; admins may also type a new class."""
        flag = accessible_flag(request, flag_id, Capability.REVIEW)
        data = self.NameInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.name_detected_object(
            flag=flag,
            box_index=data.validated_data["box"],
            label=data.validated_data["label"],
            user=request.user,
            may_create_class=can(request.user, flag.site, Capability.MANAGE),
        )
        return Response(flag_row(flag_with_site(flag_id)))
