"""Page: upload images or .zip archives to a site."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from webapp.assets import services
from webapp.assets.api import incoming_files
from webapp.assets.models import Purpose
from webapp.pages.forms import UploadForm, add_service_errors
from webapp.sites.access import access_site, can
from webapp.sites.roles import Capability


@login_required
@require_http_methods(["GET", "POST"])
def upload(request: HttpRequest, slug: str) -> HttpResponse:
    """Store the valid files, list the refused ones with their reasons on the same page."""
    site = access_site(request.user, slug, Capability.UPLOAD)
    result = None
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                result = services.create_upload(
                    site=site,
                    user=request.user,
                    purpose=form.cleaned_data["purpose"],
                    files=incoming_files(request),
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
    else:
        initial = Purpose.SCORE if site.active_version_id else Purpose.TRAIN
        form = UploadForm(initial={"purpose": initial})
    scored_by = None
    if result is not None and result.upload.purpose == Purpose.SCORE:
        scored_by = site.active_version
    context = {
        "site": site,
        "form": form,
        "result": result,
        "scored_by": scored_by,
        "can_review": can(request.user, site, Capability.REVIEW),
    }
    status = 400 if request.method == "POST" and result is None else 200
    return render(request, "assets/upload.html", context, status=status)
