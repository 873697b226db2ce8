"""Pages: the review queue (one flag at a time) and the review grid (many at once).

Both are driven by the REST API from static/js (review.js, review_grid.js).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_http_methods

from webapp.pages.forms import ReviewQualityForm, add_service_errors
from webapp.review import quality, selectors
from webapp.review.models import Flag, FlagStatus
from webapp.review.rows import flag_rows
from webapp.sites import services as site_services
from webapp.sites.access import access_site, can
from webapp.sites.roles import Capability

#: Flags rendered with the page, and fetched per request to the API when it runs low.
QUEUE_PAGE_SIZE = 50
#: Thumbnails per page of the grid: eight columns of five rows on a laptop screen.
GRID_PAGE_SIZE = 40
#: How often the queue asks whether scoring still runs (and fetches new flags).
POLL_MS = 3000


def _requested_flag(request: HttpRequest, site_flags: QuerySet[Flag]) -> Flag | None:
    """The flag named by ``?flag=<id>`` (the grid opens one that way), if of this site."""
    raw = request.GET.get("flag", "")
    return site_flags.filter(pk=int(raw)).first() if raw.isdigit() else None


@login_required
@ensure_csrf_cookie
def review_queue(request: HttpRequest, slug: str) -> HttpResponse:
    """Members see the queue; reviewers and admins may decide (the API checks again).

    ``?status=confirmed`` or ``rejected`` lists the decided flags instead (to undo one);
    ``?flag=<id>`` selects that flag (in the list of its status, added when it is beyond
    the first page). While scoring runs the page shows its progress and polls for new
    flags.
    """
    site = access_site(request.user, slug, Capability.VIEW)
    wanted = _requested_flag(request, selectors.flags_of(site))
    if wanted is not None:
        wanted = selectors.present([wanted], request.user)[0]
    status = request.GET.get("status") or (wanted.status if wanted else FlagStatus.PENDING)
    if status not in FlagStatus.values:
        status = FlagStatus.PENDING
    if status == FlagStatus.PENDING:
        quality.serve_check(site=site, reviewer=request.user)
    flags = selectors.present(
        selectors.flags_for(site, request.user, status=status)[: QUEUE_PAGE_SIZE + 1],
        request.user,
    )
    has_more = len(flags) > QUEUE_PAGE_SIZE
    flags = flags[:QUEUE_PAGE_SIZE]
    if wanted is not None and wanted.status == status and wanted.pk not in {f.pk for f in flags}:
        flags.append(wanted)  # lowest score of those shown: its place in the order
    rows = flag_rows(flags)
    chosen = wanted.pk if wanted is not None else None
    selected = next((row for row in rows if row["id"] == chosen), rows[0] if rows else None)
    if selected is not None:
        selected = {**selected, "status_label": FlagStatus(selected["status"]).label}
    scoring = selectors.queue_status(site)
    context = {
        "site": site,
        "can_review": can(request.user, site, Capability.REVIEW),
        "pending": selectors.pending_for(site, request.user),
        "status": status,
        "status_choices": FlagStatus.choices,
        "flags": rows,
        "selected_flag": selected,
        "has_more": has_more,
        "page_size": QUEUE_PAGE_SIZE,
        "scoring": scoring,
        "poll_ms": POLL_MS,
    }
    return render(request, "review/review_queue.html", context)


@login_required
@ensure_csrf_cookie
def review_grid(request: HttpRequest, slug: str) -> HttpResponse:
    """Pending flags as a page of thumbnails, highest score first, decided many at once.

    The page is drawn with the first :data:`GRID_PAGE_SIZE` flags; after each decision
    the script fetches the page again from the API (the decided ones have left it).
    """
    site = access_site(request.user, slug, Capability.VIEW)
    quality.serve_check(site=site, reviewer=request.user)
    pending = selectors.flags_for(site, request.user, status=FlagStatus.PENDING)
    flags = selectors.present(pending[:GRID_PAGE_SIZE], request.user)
    context = {
        "site": site,
        "can_review": can(request.user, site, Capability.REVIEW),
        "pending": selectors.pending_for(site, request.user),
        "flags": flags,
        "page_size": GRID_PAGE_SIZE,
    }
    return render(request, "review/review_grid.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def reviewers(request: HttpRequest, slug: str) -> HttpResponse:
    """Reviewer quality (admins): the settings, each reviewer's agreement, disputed flags."""
    site = access_site(request.user, slug, Capability.MANAGE)
    initial = {name: getattr(site, name) for name in ReviewQualityForm.base_fields}
    form = ReviewQualityForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                site_services.update_site_settings(
                    site=site, actor=request.user, **form.cleaned_data
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, "Reviewer settings saved.")
                return redirect("site-reviewers", slug=site.slug)
        status = 400
    context = {
        "site": site,
        "form": form,
        "quality": selectors.reviewer_quality(site),
        "disputed": selectors.disputed_flags(site)[:50],
    }
    return render(request, "review/reviewers.html", context, status=status)
