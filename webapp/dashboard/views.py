"""Page: a site's dashboard (any member)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from webapp.dashboard import selectors, services
from webapp.dashboard.figures import dashboard_figures
from webapp.sites.access import access_site, can
from webapp.sites.roles import Capability


@login_required
def site_dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    """Photos, flags over time, waiting times, reviewers, the model; what changed since the
    viewer's last visit (and this view is the next one's baseline)."""
    site = access_site(request.user, slug, Capability.VIEW)
    visit = services.record_dashboard_visit(site=site, user=request.user)
    data = selectors.site_dashboard(
        site, user=request.user, since=visit.baseline_at, now=visit.seen_at
    )
    context = {
        "site": site,
        "data": data,
        "figures": dashboard_figures(data),
        "can_manage": can(request.user, site, Capability.MANAGE),
    }
    return render(request, "dashboard/site_dashboard.html", context)
