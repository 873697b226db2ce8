"""The confirmation page every deletion goes through: what goes, then POST to delete."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from webapp.common.errors import Conflict
from webapp.sites.deletion import Impact
from webapp.sites.models import Site

#: Labels of the counts shown, in order; zero counts are left out.
IMPACT_LABELS = {
    "uploads": "uploads",
    "images": "images",
    "videos": "videos",
    "frames": "video frames",
    "scores": "scores",
    "flags": "flags",
    "reviews": "reviews (confirmed or rejected flags)",
    "versions": "detector versions",
    "members": "memberships",
    "files": "files in storage",
}


def confirm_delete(
    request: HttpRequest,
    *,
    site: Site,
    what: str,
    impact: Impact,
    delete: Callable[[str | None], object],
    cancel_url: str,
    done_url: str,
    note: str = "",
    type_slug: bool = False,
) -> HttpResponse:
    """GET: what will be deleted, with counts. POST (CSRF-checked): delete and redirect.

    ``delete`` gets the typed confirmation (for sites) and raises ``Conflict`` or
    ``ValidationError`` with the reason, shown on the page again (409 / 400).
    """
    error = ""
    status = 200
    if request.method == "POST":
        try:
            delete(request.POST.get("confirm"))
        except Conflict as exc:
            error, status = str(exc), 409
        except ValidationError as exc:
            error, status = " ".join(exc.messages), 400
        else:
            messages.success(request, f"Deleted {what}.")
            return redirect(done_url)
    counts = impact.as_dict()
    rows = [(label, counts[key]) for key, label in IMPACT_LABELS.items() if counts[key]]
    context = {
        "site": site,
        "what": what,
        "rows": rows,
        "note": note,
        "error": error,
        "cancel_url": cancel_url,
        "type_slug": type_slug,
    }
    return render(request, "pages/confirm_delete.html", context, status=status)
