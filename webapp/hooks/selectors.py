"""Reads on webhooks and their delivery logs."""

from __future__ import annotations

from django.db.models import Count, OuterRef, QuerySet, Subquery

from webapp.hooks.models import Delivery, Webhook
from webapp.sites.models import Site


def webhooks_of(site: Site) -> QuerySet[Webhook]:
    """The site's hooks with their delivery count and latest delivery, in one query."""
    latest = Delivery.objects.filter(webhook=OuterRef("pk")).order_by("-created_at", "-id")
    return (
        Webhook.objects.filter(site=site)
        .annotate(
            n_deliveries=Count("deliveries"),
            last_status=Subquery(latest.values("status")[:1]),
            last_at=Subquery(latest.values("created_at")[:1]),
        )
        .order_by("id")
    )


def webhook_of(site: Site, webhook_id: int) -> Webhook | None:
    return Webhook.objects.select_related("site").filter(site=site, pk=webhook_id).first()


def deliveries_of(webhook: Webhook, *, status: str | None = None) -> QuerySet[Delivery]:
    """Newest first, each with its attempts (one query for all of them)."""
    deliveries = (
        Delivery.objects.filter(webhook=webhook)
        .prefetch_related("attempt_log")
        .order_by("-created_at", "-id")
    )
    return deliveries.filter(status=status) if status else deliveries
