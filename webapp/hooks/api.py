"""REST API for a site's webhooks and their delivery logs (site admins only).

The secret comes back once, in the answer that creates the hook or rotates its secret;
lists and reads leave it out.
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.common.jobs import JobStatus
from webapp.hooks import selectors, services
from webapp.hooks.models import Delivery, DeliveryAttempt, Webhook, WebhookEvent
from webapp.sites.access import access_site
from webapp.sites.roles import Capability


class WebhookOutput(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.ChoiceField(choices=WebhookEvent.choices))

    class Meta:
        model = Webhook
        fields = [
            "id",
            "url",
            "events",
            "description",
            "is_active",
            "created_at",
            "updated_at",
            "secret_rotated_at",
        ]


class WebhookWithSecretOutput(WebhookOutput):
    secret = serializers.CharField(
        help_text="Key of the HMAC-SHA256 signature. Shown this once: keep it now."
    )

    class Meta(WebhookOutput.Meta):
        fields = [*WebhookOutput.Meta.fields, "secret"]


class WebhookInput(serializers.Serializer):
    url = serializers.CharField(max_length=2000, help_text="http:// or https:// URL to POST to.")
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEvent.choices),
        help_text="Events to send; at least one.",
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False, default=True)


class WebhookPatchInput(serializers.Serializer):
    url = serializers.CharField(max_length=2000, required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEvent.choices), required=False
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)


class AttemptOutput(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["number", "started_at", "duration_ms", "status_code", "error"]


class DeliveryOutput(serializers.ModelSerializer):
    delivery_id = serializers.UUIDField(
        source="uid", help_text="The X-Anomaly-Delivery header: the same on every attempt."
    )
    attempt_log = AttemptOutput(many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "delivery_id",
            "event",
            "status",
            "attempts",
            "last_status_code",
            "last_error",
            "next_attempt_at",
            "delivered_at",
            "created_at",
            "attempt_log",
        ]


def accessible_webhook(request: Request, slug: str, webhook_id: int) -> Webhook:
    """The site's hook if the user administers the site (404 / 403 as for the site)."""
    site = access_site(request.user, slug, Capability.MANAGE)
    webhook = selectors.webhook_of(site, webhook_id)
    if webhook is None:
        raise Http404(f"Webhook {webhook_id} not found.")
    return webhook


class WebhookListView(APIView):
    """A site's webhooks; admins register one (the answer holds its secret, once)."""

    @extend_schema(responses=WebhookOutput(many=True))
    def get(self, request: Request, slug: str) -> Response:
        site = access_site(request.user, slug, Capability.MANAGE)
        return Response(WebhookOutput(selectors.webhooks_of(site), many=True).data)

    @extend_schema(request=WebhookInput, responses={201: WebhookWithSecretOutput})
    def post(self, request: Request, slug: str) -> Response:
        site = access_site(request.user, slug, Capability.MANAGE)
        data = WebhookInput(data=request.data)
        data.is_valid(raise_exception=True)
        webhook = services.register_webhook(site=site, actor=request.user, **data.validated_data)
        return Response(WebhookWithSecretOutput(webhook).data, status=status.HTTP_201_CREATED)


class WebhookDetailView(APIView):
    """One webhook: read, change (URL, events, description, active) or delete."""

    @extend_schema(responses=WebhookOutput)
    def get(self, request: Request, slug: str, webhook_id: int) -> Response:
        return Response(WebhookOutput(accessible_webhook(request, slug, webhook_id)).data)

    @extend_schema(request=WebhookPatchInput, responses=WebhookOutput)
    def patch(self, request: Request, slug: str, webhook_id: int) -> Response:
        webhook = accessible_webhook(request, slug, webhook_id)
        data = WebhookPatchInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        webhook = services.update_webhook(
            webhook=webhook, actor=request.user, **data.validated_data
        )
        return Response(WebhookOutput(webhook).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str, webhook_id: int) -> Response:
        """Delete the hook and its delivery log; queued deliveries are not sent."""
        webhook = accessible_webhook(request, slug, webhook_id)
        services.delete_webhook(webhook=webhook, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookRotateSecretView(APIView):
    @extend_schema(request=None, responses=WebhookWithSecretOutput)
    def post(self, request: Request, slug: str, webhook_id: int) -> Response:
        """A new secret, in force at once (shown this once); the old one stops working."""
        webhook = accessible_webhook(request, slug, webhook_id)
        webhook = services.rotate_secret(webhook=webhook, actor=request.user)
        return Response(WebhookWithSecretOutput(webhook).data)


class WebhookTestView(APIView):
    @extend_schema(request=None, responses={202: DeliveryOutput})
    def post(self, request: Request, slug: str, webhook_id: int) -> Response:
        """Queue a signed ``ping`` event to the hook; follow it in the delivery log."""
        webhook = accessible_webhook(request, slug, webhook_id)
        delivery = services.send_test_event(webhook=webhook, actor=request.user)
        return Response(DeliveryOutput(delivery).data, status=status.HTTP_202_ACCEPTED)


class DeliveryListView(generics.ListAPIView):
    """The hook's deliveries, newest first, each with its attempts; ``?status=`` filters."""

    serializer_class = DeliveryOutput

    @extend_schema(parameters=[OpenApiParameter("status", str, enum=JobStatus.values)])
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        webhook = accessible_webhook(self.request, self.kwargs["slug"], self.kwargs["webhook_id"])
        wanted = self.request.query_params.get("status") or None
        if wanted and wanted not in JobStatus.values:
            raise serializers.ValidationError(
                {"status": [f"unknown status '{wanted}'; one of {', '.join(JobStatus.values)}."]}
            )
        return selectors.deliveries_of(webhook, status=wanted)
