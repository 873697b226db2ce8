"""Pages: upload images or .zip archives to a site; one asset with its label and scores."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from webapp.assets import selectors, services
from webapp.assets.api import incoming_files
from webapp.assets.models import Asset, MediaType, Purpose, Upload
from webapp.pages.confirm import confirm_delete
from webapp.pages.forms import LabelForm, UploadForm, add_service_errors
from webapp.review import selectors as review_selectors
from webapp.sites import deletion
from webapp.sites.access import access_site, access_site_object, can, check_capability
from webapp.sites.guide import first_steps
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
        asked = request.GET.get("purpose")
        default = Purpose.SCORE if site.active_version_id else Purpose.TRAIN
        form = UploadForm(initial={"purpose": asked if asked in Purpose.values else default})
    scored_by = None
    if result is not None and result.upload.purpose == Purpose.SCORE:
        scored_by = site.active_version
    context = {
        "site": site,
        "form": form,
        "result": result,
        "scored_by": scored_by,
        "can_review": can(request.user, site, Capability.REVIEW),
        "can_manage": can(request.user, site, Capability.MANAGE),
        "guide": first_steps(site, request.user) if result is not None else None,
    }
    status = 400 if request.method == "POST" and result is None else 200
    return render(request, "assets/upload.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def asset_detail(request: HttpRequest, asset_id: int) -> HttpResponse:
    """The image (with its defect mask), its class label, and every version's score."""
    asset = selectors.asset_with_site(asset_id)
    access_site_object(request.user, asset, Capability.VIEW, name=f"Asset {asset_id}")
    if asset.media_type == MediaType.VIDEO and hasattr(asset, "video"):
        return _video_detail(request, asset)
    can_label = can(request.user, asset.site, Capability.UPLOAD)
    form = LabelForm(initial={"label": asset.label})
    if request.method == "POST":
        check_capability(request.user, asset.site, Capability.UPLOAD)
        form = LabelForm(request.POST)
        if form.is_valid():
            services.set_asset_label(asset=asset, label=form.cleaned_data["label"])
            messages.success(request, "Label saved.")
            return redirect("asset-detail", asset_id=asset.pk)
    scores = list(selectors.scores_of(asset))
    # each flag as this user sees it: a known-answer check in their queue looks pending here
    # too (the queue links here), their own answer once they gave it
    review_selectors.present([s.flag for s in scores if hasattr(s, "flag")], request.user)
    context = {
        "site": asset.site,
        "asset": asset,
        "form": form,
        "can_label": can_label,
        "can_delete": can_label,
        "scores": scores,
    }
    return render(request, "assets/asset_detail.html", context)


def _video_detail(request: HttpRequest, asset: Asset) -> HttpResponse:
    """A video: its player, score curve over time, segments and a strip of frames."""
    from webapp.detectors.models import DetectorVersion
    from webapp.review.models import FlagStatus

    video = asset.video
    version_ids = selectors.versions_that_scored(asset)
    versions = list(DetectorVersion.objects.filter(pk__in=version_ids).order_by("-number"))
    wanted = request.GET.get("version")
    selected = next((v.pk for v in versions if str(v.pk) == wanted), None)
    if selected is None and versions:
        selected = versions[0].pk
    side = 640
    scale = side / max(asset.width, asset.height, 1)
    context = {
        "site": asset.site,
        "asset": asset,
        "video": video,
        "frames_stored": asset.frames.count(),
        "versions": versions,
        "selected_version": selected,
        "preview_width": round(asset.width * scale) if asset.width >= asset.height else None,
        "can_review": can(request.user, asset.site, Capability.REVIEW),
        "can_delete": can(request.user, asset.site, Capability.UPLOAD),
        "pending_segments": asset.segment_flags.filter(status=FlagStatus.PENDING).exists(),
    }
    return render(request, "assets/video_detail.html", context)


_KEPT_IN_MANIFESTS = (
    "Versions that trained on or were evaluated against these images keep their ids in "
    "their manifest (history); their models are not changed."
)


@login_required
@require_http_methods(["GET", "POST"])
def delete_asset(request: HttpRequest, asset_id: int) -> HttpResponse:
    """Confirm, then delete one asset (uploaders and admins)."""
    asset = selectors.asset_with_site(asset_id)
    access_site_object(request.user, asset, Capability.UPLOAD, name=f"Asset {asset_id}")
    return confirm_delete(
        request,
        site=asset.site,
        what=f"{asset.get_media_type_display().lower()} {asset.filename}",
        impact=deletion.asset_impact(asset),
        delete=lambda _: deletion.delete_asset(asset=asset, actor=request.user),
        cancel_url=reverse("asset-detail", args=[asset.pk]),
        done_url=reverse("site-detail", args=[asset.site.slug]),
        note=_KEPT_IN_MANIFESTS,
    )


@login_required
@require_http_methods(["GET", "POST"])
def delete_upload(request: HttpRequest, upload_id: int) -> HttpResponse:
    """Confirm, then delete an upload with all its assets (uploaders and admins)."""
    upload = Upload.objects.select_related("site").filter(pk=upload_id).first()
    access_site_object(request.user, upload, Capability.UPLOAD, name=f"Upload {upload_id}")
    return confirm_delete(
        request,
        site=upload.site,
        what=f"{upload.purpose} upload #{upload.pk}",
        impact=deletion.upload_impact(upload),
        delete=lambda _: deletion.delete_upload(upload=upload, actor=request.user),
        cancel_url=reverse("site-detail", args=[upload.site.slug]),
        done_url=reverse("site-detail", args=[upload.site.slug]),
        note=_KEPT_IN_MANIFESTS,
    )
