"""Pages: train, activate and rescore (admins), and a version's report."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import get_conditional_response
from django.views.decorators.http import require_http_methods, require_POST

from webapp.assets import selectors as asset_selectors
from webapp.common.errors import Conflict
from webapp.detectors import plots, selectors, services
from webapp.detectors.models import DetectorVersion, JobStatus
from webapp.objects.selectors import object_metric_rows
from webapp.pages.confirm import confirm_delete
from webapp.pages.forms import TrainForm, add_service_errors
from webapp.sites import deletion
from webapp.sites.access import access_site, access_site_object, can
from webapp.sites.roles import Capability
from webapp.sites.views import render_site_detail

#: How many thumbnails of each manifest group the report shows.
MANIFEST_PREVIEW = 120

MANIFEST_GROUPS = (
    ("fit", "Fitted on", "Known-normal images the detector learnt from."),
    (
        "holdout",
        "Held out",
        "Known-normal images kept aside to calibrate the threshold (none when every normal "
        "image calibrated it out of fold, by a model trained without it).",
    ),
    ("anomalies", "Confirmed anomalies", "Reviewed anomalies used for calibration and metrics."),
)


@login_required
@require_POST
def train_version(request: HttpRequest, slug: str) -> HttpResponse:
    """Queue the training of a new version; invalid input re-renders the site page."""
    site = access_site(request.user, slug, Capability.MANAGE)
    form = TrainForm(request.POST, kinds=selectors.detector_kinds())
    if form.is_valid():
        try:
            version = services.request_training(site=site, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request,
                f"Model {version.number} ({version.kind}) trains in the background: its "
                "status and progress below follow it, and the page refreshes when it is done.",
            )
            return redirect("model-detail", slug=site.slug, number=version.number)
    messages.error(request, "The new model was not created; see the errors in the form.")
    return render_site_detail(request, site, train_form=form)


@login_required
@require_POST
def rescore_site(request: HttpRequest, slug: str) -> HttpResponse:
    site = access_site(request.user, slug, Capability.MANAGE)
    try:
        job = services.rescore_site(site=site)
    except Conflict as exc:
        messages.error(request, str(exc))
    else:
        if job is None:
            messages.info(request, "There are no photos to check yet.")
        else:
            state = "is checking" if job.status == JobStatus.RUNNING else "will check"
            messages.success(request, f"Scoring job {job.pk} {state} {job.total} photos again.")
    return redirect("site-detail", slug=site.slug)


def _version_for(request: HttpRequest, version_id: int, capability: Capability) -> DetectorVersion:
    version = selectors.version_with_site(version_id)
    return access_site_object(request.user, version, capability, name=f"Version {version_id}")


@login_required
@require_POST
def activate_version(request: HttpRequest, version_id: int) -> HttpResponse:
    """Make a version the site's active one (also the way to roll back)."""
    version = _version_for(request, version_id, Capability.MANAGE)
    try:
        services.activate_version(version=version, actor=request.user)
    except Conflict as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            f"Model {version.number} is now in use: it checks every new photo.",
        )
    return redirect("site-detail", slug=version.site.slug)


@login_required
@require_http_methods(["GET", "POST"])
def delete_version(request: HttpRequest, version_id: int) -> HttpResponse:
    """Confirm, then delete a version (admins); the active one is refused with the reason."""
    version = _version_for(request, version_id, Capability.MANAGE)
    note = (
        "This is the site's active version: activate another version first."
        if version.is_active
        else "The images it scored stay; only its scores and the flags it raised go."
    )
    return confirm_delete(
        request,
        site=version.site,
        what=f"version {version.number} ({version.kind})",
        impact=deletion.version_impact(version),
        delete=lambda _: deletion.delete_version(version=version, actor=request.user),
        cancel_url=reverse("model-detail", args=[version.site.slug, version.number]),
        done_url=reverse("site-detail", args=[version.site.slug]),
        note=note,
    )


def _display(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(_display(v) for v in value)
    return str(value)


#: What each metric means, in one sentence for someone who is not a statistician; shown
#: under its name on the model's page. The counts are at the model's alarm score.
METRIC_HELP = {
    "auroc": "Chance that a confirmed unusual photo scores above a normal one: 1 is perfect, "
    "0.5 is guessing.",
    "average precision": "How well the highest scores are the unusual photos (1 is perfect).",
    "threshold": "The alarm score: photos scoring above it are flagged.",
    "precision": "Of the flagged photos, the share that were really unusual.",
    "recall": "Of the unusual photos, the share that were flagged.",
    "f1": "One number balancing precision and recall (1 is perfect).",
    "false positive rate": "Share of normal photos flagged by mistake.",
    "tp": "Unusual photos flagged (found).",
    "fp": "Normal photos flagged (false alarms).",
    "tn": "Normal photos not flagged.",
    "fn": "Unusual photos not flagged (missed).",
    "n normal": "Normal photos the model learnt from and was checked on.",
    "n anomalous": "Photos reviewers confirmed as unusual, used to check the model.",
    "n fit": "Photos the final model learnt from.",
    "n holdout": "Normal photos kept aside, never learnt from, to set the alarm score.",
    "n calibration": "Normal photos the alarm score was set on, each scored by a model that "
    "had not seen it.",
    "guaranteed fpr": "The false-alarm rate the model promises on new normal photos.",
    "expected false alarms per 100": "False alarms to expect per 100 normal photos.",
    "target fpr": "The false-alarm rate asked for when training.",
    "target fpr kept": "Whether the site has enough normal photos to promise that rate.",
    "normals needed for target": "Normal photos needed to promise the rate asked for.",
    "more normals needed": "How many more normal photos to add for that promise.",
    "train seconds": "How long training took.",
    "pixel auroc": "Like auroc, for where in the photo: marked defect pixels against the rest.",
}


def metric_rows(metrics: dict[str, Any], prefix: str = "") -> list[tuple[str, str, str]]:
    """``(name, shown value, plain meaning)`` for every metric; nested groups become
    ``group.name`` (the meaning is empty where none is written)."""
    rows: list[tuple[str, str, str]] = []
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(metric_rows(value, prefix=f"{name}."))
        else:
            shown = name.replace("_", " ")
            rows.append((shown, _display(value), METRIC_HELP.get(shown, "")))
    return rows


@login_required
def version_detail(request: HttpRequest, version_id: int) -> HttpResponse:
    """A version by its id (API clients know that one): the page under the site's address,
    where "model 3" is found at .../models/3/ rather than at an unrelated id."""
    version = _version_for(request, version_id, Capability.VIEW)
    return redirect("model-detail", slug=version.site.slug, number=version.number)


@login_required
def model_detail(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """A version's report: threshold and its promise, metrics, plots, training set."""
    site = access_site(request.user, slug, Capability.VIEW)
    version = selectors.version_of_site(site, number)
    if version is None:
        raise Http404(f"Site '{slug}' has no model {number}.")
    manifest = version.manifest or {}
    shown = {key: list(manifest.get(key) or [])[:MANIFEST_PREVIEW] for key, _, _ in MANIFEST_GROUPS}
    names = asset_selectors.filenames_of(site, [i for ids in shown.values() for i in ids])
    groups = [
        {
            "key": key,
            "title": title,
            "help": help_text,
            "count": len(manifest.get(key) or []),
            "assets": [(asset_id, names.get(asset_id, "")) for asset_id in shown[key]],
        }
        for key, title, help_text in MANIFEST_GROUPS
    ]
    kind_title, kind_summary = selectors.plain_kind(version.chosen_kind or version.kind)
    context = {
        "site": site,
        "version": version,
        "metrics": metric_rows({k: v for k, v in (version.metrics or {}).items() if k != "auto"}),
        "auto_choice": (version.metrics or {}).get("auto"),
        "object_metrics": object_metric_rows(version.metrics),
        "params": [
            (name, value if isinstance(value, str) else json.dumps(value))
            for name, value in sorted((version.params or {}).items())
        ],
        "groups": groups,
        "has_manifest": bool(manifest),
        "running": version.status in (JobStatus.QUEUED, JobStatus.RUNNING),
        "can_manage": can(request.user, site, Capability.MANAGE),
        "preview_limit": MANIFEST_PREVIEW,
        "evaluation": _evaluation_context(version),
        "calibration": selectors.calibration_summary(version),
        "kind_title": kind_title,
        "kind_summary": kind_summary,
    }
    return render(request, "detectors/version_detail.html", context)


def _evaluation_context(version: DetectorVersion) -> dict[str, Any]:
    normal, anomalous = selectors.evaluation_scores(version)
    unusual, missed = selectors.extreme_examples(version)
    names = asset_selectors.filenames_of(version.site, [a for a, _ in unusual + missed])
    metrics = version.metrics or {}
    return {
        "has_scores": bool(normal),
        "has_both": bool(normal and anomalous),
        "confusion": {key: metrics.get(key) for key in ("tp", "fp", "tn", "fn")},
        "unusual_normals": [(a, score, names.get(a, "")) for a, score in unusual],
        "missed_anomalies": [(a, score, names.get(a, "")) for a, score in missed],
    }


@login_required
def version_plot(request: HttpRequest, version_id: int, name: str) -> HttpResponse:
    """An evaluation plot of a version as PNG (histogram, roc or pr), drawn once and cached.

    The plot's ETag is a digest of what it is drawn from: a browser revalidating gets 304.
    """
    version = _version_for(request, version_id, Capability.VIEW)
    found = plots.plot(version, name)
    if found is None:
        raise Http404("No such plot for this version (ROC and PR need confirmed anomalies).")
    response = get_conditional_response(request, etag=found.etag)
    if response is None:
        response = HttpResponse(found.png(), content_type="image/png")
    response["ETag"] = found.etag
    response["Cache-Control"] = "private, max-age=3600"
    return response
