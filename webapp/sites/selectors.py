"""Reads on sites."""

from __future__ import annotations

from django.db.models import QuerySet

from webapp.sites.access import UserLike
from webapp.sites.models import Membership, Site


def sites_for(user: UserLike) -> QuerySet[Site]:
    """Sites ``user`` can see, with the active version loaded."""
    sites = Site.objects.select_related("active_version")
    if not user.is_authenticated:
        return sites.none()
    if user.is_staff:
        return sites.all()
    return sites.filter(memberships__user=user).distinct()


def memberships_of(site: Site) -> QuerySet[Membership]:
    return Membership.objects.filter(site=site).select_related("user").order_by("user__username")
