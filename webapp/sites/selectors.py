"""Reads on sites."""

from __future__ import annotations

from django.db.models import CharField, OuterRef, QuerySet, Subquery, Value

from webapp.sites.access import UNREAD_VERSION_JSON, UserLike
from webapp.sites.models import AuditEntry, Membership, Site
from webapp.sites.roles import Role


def sites_for(user: UserLike) -> QuerySet[Site]:
    """Sites ``user`` can see, with the active version and the user's role loaded.

    ``role_of_user`` comes in the same query, so a list of sites costs one query however
    long it is (asking :func:`~webapp.sites.access.role_on` per site would cost one each).
    """
    sites = Site.objects.select_related("active_version").defer(*UNREAD_VERSION_JSON)
    if not user.is_authenticated:
        return sites.none()
    if user.is_staff:
        return sites.annotate(role_of_user=Value(Role.ADMIN, output_field=CharField()))
    role = Membership.objects.filter(site=OuterRef("pk"), user=user).values("role")[:1]
    return sites.filter(memberships__user=user).distinct().annotate(role_of_user=Subquery(role))


def memberships_of(site: Site) -> QuerySet[Membership]:
    return Membership.objects.filter(site=site).select_related("user").order_by("user__username")


def audit_log_of(site: Site, *, action: str | None = None) -> QuerySet[AuditEntry]:
    """The site's audit entries, newest first, optionally of one action."""
    entries = AuditEntry.objects.filter(site=site).order_by("-created_at", "-id")
    return entries.filter(action=action) if action else entries
