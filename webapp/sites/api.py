"""REST API for sites, memberships and authentication."""

from __future__ import annotations

from collections.abc import Mapping

from axes.handlers.proxy import AxesProxyHandler
from django.contrib.auth.signals import user_logged_in
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.common.lockout import lockout_response
from webapp.sites import deletion, selectors, services
from webapp.sites.access import access_site, role_on
from webapp.sites.models import AuditAction, AuditEntry, Site
from webapp.sites.roles import Capability, Role


class TokenView(ObtainAuthToken):
    """Exchange username and password for an API token (send it as ``Token <token>``)."""

    class TokenOutput(serializers.Serializer):
        token = serializers.CharField()

    @extend_schema(request=ObtainAuthToken.serializer_class, responses=TokenOutput)
    def post(self, request: Request, *args: object, **kwargs: object) -> Response:
        """429 while the account is locked from this address (repeated wrong passwords).

        django-axes blocks the login either way; answering 429 rather than DRF's "Unable
        to log in" tells the client why and when to retry.
        """
        http_request = request._request
        if not isinstance(request.data, Mapping):  # e.g. a JSON list: say what is expected
            raise serializers.ValidationError(
                {"non_field_errors": ['Send an object: {"username": ..., "password": ...}.']}
            )
        credentials = {"username": str(request.data.get("username", ""))}
        if AxesProxyHandler.is_locked(http_request, credentials):
            return lockout_response(http_request, None, credentials)  # type: ignore[return-value]
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            if AxesProxyHandler.is_locked(http_request, credentials):
                return lockout_response(http_request, None, credentials)  # type: ignore[return-value]
            raise serializers.ValidationError(serializer.errors)
        user = serializer.validated_data["user"]
        token, _ = Token.objects.get_or_create(user=user)
        # A token is a sign-in: last_login is updated and the failure count reset.
        user_logged_in.send(sender=type(user), request=http_request, user=user)
        return Response({"token": token.key})


class SiteOutput(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()
    active_version = serializers.SerializerMethodField()

    class Meta:
        model = Site
        fields = [
            "slug",
            "name",
            "description",
            "role",
            "active_version",
            "video_sample_fps",
            "segment_min_length",
            "segment_max_gap",
            "created_at",
        ]

    def get_role(self, site: Site) -> str | None:
        if hasattr(site, "role_of_user"):  # listed by sites_for: no query per site
            return site.role_of_user
        return role_on(self.context["request"].user, site)

    def get_active_version(self, site: Site) -> int | None:
        return site.active_version_id


class SiteListCreateView(generics.ListAPIView):
    serializer_class = SiteOutput

    class SiteInput(serializers.Serializer):
        slug = serializers.SlugField(
            max_length=64,
            required=False,
            allow_blank=True,
            default="",
            help_text="Name in addresses; made from the name when left out.",
        )
        name = serializers.CharField(max_length=200)
        description = serializers.CharField(required=False, allow_blank=True, default="")

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.sites_for(self.request.user)

    @extend_schema(request=SiteInput, responses={201: SiteOutput})
    def post(self, request: Request) -> Response:
        """Create a site; you become its admin."""
        data = self.SiteInput(data=request.data)
        data.is_valid(raise_exception=True)
        site = services.create_site(creator=request.user, **data.validated_data)
        return Response(
            SiteOutput(site, context={"request": request}).data, status=status.HTTP_201_CREATED
        )


class SiteDetailView(APIView):
    class SettingsInput(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False)
        description = serializers.CharField(required=False, allow_blank=True)
        video_sample_fps = serializers.FloatField(
            required=False, min_value=0, max_value=1000, help_text="0 = every frame"
        )
        segment_min_length = serializers.IntegerField(required=False, min_value=1, max_value=10_000)
        segment_max_gap = serializers.IntegerField(required=False, min_value=0, max_value=10_000)

    @extend_schema(responses=SiteOutput)
    def get(self, request: Request, slug: str) -> Response:
        site = access_site(request.user, slug, Capability.VIEW)
        return Response(SiteOutput(site, context={"request": request}).data)

    @extend_schema(request=SettingsInput, responses=SiteOutput)
    def patch(self, request: Request, slug: str) -> Response:
        """Change the site's settings (admins): name, video sampling, event segments."""
        site = access_site(request.user, slug, Capability.MANAGE)
        data = self.SettingsInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        site = services.update_site_settings(site=site, actor=request.user, **data.validated_data)
        return Response(SiteOutput(site, context={"request": request}).data)

    @extend_schema(
        parameters=[OpenApiParameter("confirm", str, description="the site's slug, typed out")],
        request=inline_serializer("SiteDeleteInput", {"confirm": serializers.CharField()}),
        responses=inline_serializer(
            "SiteDeleted", {"deleted": serializers.DictField(child=serializers.IntegerField())}
        ),
    )
    def delete(self, request: Request, slug: str) -> Response:
        """Delete the site and everything in it, files included (admins).

        Needs the slug as confirmation: ``?confirm=<slug>`` or ``{"confirm": "<slug>"}``;
        400 without it.
        """
        site = access_site(request.user, slug, Capability.MANAGE)
        confirmation = request.query_params.get("confirm")
        if confirmation is None and hasattr(request.data, "get"):
            confirmation = request.data.get("confirm")
        impact = deletion.delete_site(site=site, actor=request.user, confirmation=confirmation)
        return Response({"deleted": impact.as_dict()})


class MembershipOutput(serializers.Serializer):
    username = serializers.CharField(source="user.username")
    role = serializers.CharField()


class MembershipView(APIView):
    """List a site's members, or (admins) give a user a role there."""

    class MembershipInput(serializers.Serializer):
        username = serializers.CharField()
        role = serializers.ChoiceField(choices=Role.choices)

    @extend_schema(responses=MembershipOutput(many=True))
    def get(self, request: Request, slug: str) -> Response:
        site = access_site(request.user, slug, Capability.VIEW)
        return Response(MembershipOutput(selectors.memberships_of(site), many=True).data)

    @extend_schema(request=MembershipInput, responses={200: MembershipOutput})
    def post(self, request: Request, slug: str) -> Response:
        site = access_site(request.user, slug, Capability.MANAGE)
        data = self.MembershipInput(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.set_membership(site=site, actor=request.user, **data.validated_data)
        return Response(MembershipOutput(membership).data)


class MemberDetailView(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str, username: str) -> Response:
        """Remove a member from the site (admins)."""
        site = access_site(request.user, slug, Capability.MANAGE)
        services.remove_membership(site=site, username=username, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AuditEntryOutput(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_name", help_text="empty: the system (a worker)")

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "created_at",
            "actor",
            "action",
            "object_type",
            "object_id",
            "summary",
            "details",
        ]


class AuditLogView(generics.ListAPIView):
    """Who did what on the site, newest first (admins); ``?action=`` filters."""

    serializer_class = AuditEntryOutput

    @extend_schema(parameters=[OpenApiParameter("action", str, enum=AuditAction.values)])
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        site = access_site(self.request.user, self.kwargs["slug"], Capability.MANAGE)
        action = self.request.query_params.get("action") or None
        if action and action not in AuditAction.values:
            raise serializers.ValidationError(
                {"action": [f"unknown action '{action}'; one of {', '.join(AuditAction.values)}."]}
            )
        return selectors.audit_log_of(site, action=action)
