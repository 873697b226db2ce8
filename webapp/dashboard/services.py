"""Writes for the dashboard: recording a member's visit."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from webapp.dashboard.models import DashboardVisit
from webapp.sites.models import Site

#: Views of the dashboard less than this apart are one visit: reloading the page, or
#: coming back to it after a look at the queue, keeps showing what changed since the visit
#: before, instead of "nothing changed since a minute ago".
SAME_VISIT = timedelta(minutes=30)


@transaction.atomic
def record_dashboard_visit(
    *, site: Site, user: AbstractBaseUser, now: datetime | None = None
) -> DashboardVisit:
    """Note that ``user`` is looking at ``site``'s dashboard now; returns the visit row.

    Its ``baseline_at`` is the moment to compare with: the end of the previous visit,
    or None when this is the first one.
    """
    now = now or timezone.now()
    visit, created = DashboardVisit.objects.select_for_update().get_or_create(
        site=site, user=user, defaults={"seen_at": now}
    )
    if created:
        return visit
    if now - visit.seen_at >= SAME_VISIT:
        visit.baseline_at = visit.seen_at
    visit.seen_at = max(now, visit.seen_at)
    visit.save(update_fields=["seen_at", "baseline_at"])
    return visit
