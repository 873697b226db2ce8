"""Pages: the list of a user's sites and a site's overview (versions, jobs, uploads, members)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from webapp.assets import selectors as asset_selectors
from webapp.detectors import selectors as detector_selectors
from webapp.detectors.models import JobStatus
from webapp.pages.confirm import confirm_delete
from webapp.pages.forms import (
    MemberForm,
    SiteCreateForm,
    TrainForm,
    VideoSettingsForm,
    add_service_errors,
)
from webapp.review import selectors as review_selectors
from webapp.sites import deletion, selectors, services
from webapp.sites.access import access_site, can, role_on
from webapp.sites.guide import first_steps
from webapp.sites.models import AuditAction, Site
from webapp.sites.roles import Capability

ACTIVE_JOB_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


@login_required
@require_http_methods(["GET", "POST"])
def site_list(request: HttpRequest) -> HttpResponse:
    """The sites the user belongs to; anyone signed in may create a site (and admin it)."""
    form = SiteCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            site = services.create_site(creator=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Site “{site.name}” created; you are its admin.")
            return redirect("site-detail", slug=site.slug)
    sites = list(selectors.sites_for(request.user))
    pending = review_selectors.pending_counts(site.pk for site in sites)
    rows = [
        {"site": site, "role": site.role_of_user, "pending": pending.get(site.pk, 0)}
        for site in sites
    ]
    return render(request, "sites/site_list.html", {"rows": rows, "form": form})


def render_site_detail(
    request: HttpRequest,
    site: Site,
    *,
    train_form: TrainForm | None = None,
    member_form: MemberForm | None = None,
    video_form: VideoSettingsForm | None = None,
) -> HttpResponse:
    """The site overview; the POST views re-render it with their bound form when invalid."""
    can_manage = can(request.user, site, Capability.MANAGE)
    kinds = detector_selectors.detector_kinds() if can_manage else []
    versions = list(detector_selectors.versions_of(site))
    for version in versions:
        version.calibration = detector_selectors.calibration_summary(version)
    pending = review_selectors.pending_for(site, request.user)  # (as their queue has it)
    guide = first_steps(site, request.user, pending=pending)
    jobs = list(detector_selectors.scoring_jobs_of(site)[:10])
    context: dict[str, Any] = {
        "site": site,
        "role": role_on(request.user, site),
        "can_manage": can_manage,
        "can_upload": can(request.user, site, Capability.UPLOAD),
        "can_review": can(request.user, site, Capability.REVIEW),
        "pending": pending,
        "versions": versions,
        "jobs": jobs,
        "uploads": asset_selectors.recent_uploads(site, limit=10),
        "members": selectors.memberships_of(site),
        "kinds": kinds,
        "guide": guide,
        "active_calibration": next(
            (v.calibration for v in versions if v.pk == site.active_version_id), None
        ),
        "train_form": train_form or TrainForm(kinds=kinds),
        "member_form": member_form or MemberForm(),
        "video_form": video_form
        or VideoSettingsForm(
            initial={
                "video_sample_fps": site.video_sample_fps,
                "segment_min_length": site.segment_min_length,
                "segment_max_gap": site.segment_max_gap,
            }
        ),
        "polling": any(v.status in ACTIVE_JOB_STATUSES for v in versions)
        or any(j.status in ACTIVE_JOB_STATUSES for j in jobs),
    }
    return render(request, "sites/site_detail.html", context)


@login_required
def site_detail(request: HttpRequest, slug: str) -> HttpResponse:
    site = access_site(request.user, slug, Capability.VIEW)
    return render_site_detail(request, site)


@login_required
@require_POST
def add_member(request: HttpRequest, slug: str) -> HttpResponse:
    """Give a user a role on the site (admins only)."""
    site = access_site(request.user, slug, Capability.MANAGE)
    form = MemberForm(request.POST)
    if form.is_valid():
        try:
            membership = services.set_membership(site=site, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request, f"{membership.user.get_username()} is now {membership.role} of this site."
            )
            return redirect("site-detail", slug=site.slug)
    return render_site_detail(request, site, member_form=form)


@login_required
@require_POST
def video_settings(request: HttpRequest, slug: str) -> HttpResponse:
    """Video sampling and event-segment settings (admins only)."""
    site = access_site(request.user, slug, Capability.MANAGE)
    form = VideoSettingsForm(request.POST)
    if form.is_valid():
        try:
            services.update_site_settings(site=site, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Video settings saved.")
            return redirect("site-detail", slug=site.slug)
    return render_site_detail(request, site, video_form=form)


@login_required
@require_http_methods(["GET", "POST"])
def delete_site(request: HttpRequest, slug: str) -> HttpResponse:
    """Confirm by typing the slug, then delete the site and everything in it (admins)."""
    site = access_site(request.user, slug, Capability.MANAGE)
    return confirm_delete(
        request,
        site=site,
        what=f"site {site.name}",
        impact=deletion.site_impact(site),
        delete=lambda typed: deletion.delete_site(
            site=site, actor=request.user, confirmation=typed
        ),
        cancel_url=reverse("site-detail", args=[site.slug]),
        done_url=reverse("site-list"),
        note="Every upload, image, video, version, flag, class and membership of the site "
        "goes, files included.",
        type_slug=True,
    )


@login_required
def audit_log(request: HttpRequest, slug: str) -> HttpResponse:
    """Who did what on the site, newest first, 50 a page (admins)."""
    site = access_site(request.user, slug, Capability.MANAGE)
    action = request.GET.get("action") or None
    if action not in AuditAction.values:
        action = None
    page = Paginator(selectors.audit_log_of(site, action=action), 50).get_page(
        request.GET.get("page")
    )
    context = {"site": site, "page": page, "action": action, "actions": AuditAction.choices}
    return render(request, "sites/audit_log.html", context)
