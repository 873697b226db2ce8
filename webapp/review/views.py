"""Page: the review queue (one flag at a time, driven by the REST API from static/js)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from webapp.detectors.selectors import Normaliser
from webapp.review import selectors
from webapp.review.models import Flag, FlagStatus
from webapp.sites.access import access_site, can
from webapp.sites.roles import Capability

#: Flags rendered with the page, and fetched per request to the API when it runs low.
QUEUE_PAGE_SIZE = 50


def segment_times(flag: Flag) -> None:
    """``start_s`` / ``end_s`` (and the preview) of a segment flag, for the looping player."""
    video = getattr(flag.video, "video", None) if flag.is_segment else None
    flag.start_s = flag.end_s = flag.preview_url = None  # type: ignore[attr-defined]
    if video is not None and flag.start_frame is not None and flag.end_frame is not None:
        flag.start_s = flag.start_frame / video.fps  # type: ignore[attr-defined]
        flag.end_s = (flag.end_frame + 1) / video.fps  # type: ignore[attr-defined]
        if video.preview:
            flag.preview_url = f"/api/assets/{flag.video_id}/preview/"  # type: ignore[attr-defined]


@login_required
@ensure_csrf_cookie
def review_queue(request: HttpRequest, slug: str) -> HttpResponse:
    """Members see the queue; reviewers and admins may decide (the API checks again).

    ``?status=confirmed`` or ``rejected`` lists the decided flags instead (to undo one).
    """
    site = access_site(request.user, slug, Capability.VIEW)
    status = request.GET.get("status") or FlagStatus.PENDING
    if status not in FlagStatus.values:
        status = FlagStatus.PENDING
    flags = list(selectors.flags_of(site, status=status)[: QUEUE_PAGE_SIZE + 1])
    normalise = Normaliser()
    for flag in flags:
        flag.normalised = normalise(flag.score.version, flag.score.score)
        segment_times(flag)
    context = {
        "site": site,
        "can_review": can(request.user, site, Capability.REVIEW),
        "pending": selectors.pending_counts([site.pk]).get(site.pk, 0),
        "status": status,
        "status_choices": FlagStatus.choices,
        "flags": flags[:QUEUE_PAGE_SIZE],
        "has_more": len(flags) > QUEUE_PAGE_SIZE,
        "page_size": QUEUE_PAGE_SIZE,
    }
    return render(request, "review/review_queue.html", context)
