"""Pages: a site's object classes (with COCO import/export) and the box labelling page."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_http_methods, require_POST

from webapp.assets import selectors as asset_selectors
from webapp.common.errors import Conflict
from webapp.objects import selectors, services
from webapp.objects.api import BoxOutput
from webapp.objects.forms import ClassForm, CocoImportForm
from webapp.pages.forms import add_service_errors
from webapp.sites.access import access_site, can
from webapp.sites.models import Site
from webapp.sites.roles import Capability


def _render_classes(
    request: HttpRequest,
    site: Site,
    *,
    form: ClassForm | None = None,
    coco_form: CocoImportForm | None = None,
    coco_result: services.CocoImport | None = None,
    status: int = 200,
) -> HttpResponse:
    context: dict[str, Any] = {
        "site": site,
        "classes": list(selectors.classes_of(site)),
        "can_manage": can(request.user, site, Capability.MANAGE),
        "can_label": can(request.user, site, Capability.LABEL),
        "form": form or ClassForm(initial={"colour": services.next_colour(site)}),
        "coco_form": coco_form or CocoImportForm(),
        "coco_result": coco_result,
        "unlabelled": selectors.unlabelled_count(site),
        "first_unlabelled": selectors.first_unlabelled(site),
    }
    return render(request, "objects/classes.html", context, status=status)


def _cleaned(form: ClassForm) -> dict[str, Any]:
    data = dict(form.cleaned_data)
    if not data.get("colour"):
        data.pop("colour", None)
    return data


@login_required
@require_http_methods(["GET", "POST"])
def site_classes(request: HttpRequest, slug: str) -> HttpResponse:
    """The site's classes; admins add one here (POST)."""
    site = access_site(request.user, slug, Capability.VIEW)
    if request.method == "GET":
        return _render_classes(request, site)
    site = access_site(request.user, slug, Capability.MANAGE)
    form = ClassForm(request.POST)
    if form.is_valid():
        try:
            created = services.create_class(site=site, **_cleaned(form))
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Class “{created.name}” added.")
            return redirect("site-classes", slug=site.slug)
    return _render_classes(request, site, form=form, status=400)


@login_required
@require_POST
def edit_class(request: HttpRequest, slug: str, class_id: int) -> HttpResponse:
    """Change or (``delete`` in the form) remove one class; admins only."""
    site = access_site(request.user, slug, Capability.MANAGE)
    object_class = selectors.class_with_site(class_id)
    if object_class is None or object_class.site_id != site.pk:
        raise Http404(f"Class {class_id} not found.")
    if "delete" in request.POST:
        try:
            services.delete_class(object_class=object_class)
        except Conflict as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Class “{object_class.name}” deleted.")
        return redirect("site-classes", slug=site.slug)
    form = ClassForm(request.POST)
    if form.is_valid():
        try:
            services.update_class(object_class=object_class, **_cleaned(form))
        except ValidationError as exc:
            for errors in getattr(exc, "message_dict", {"": exc.messages}).values():
                for message in errors:
                    messages.error(request, f"{object_class.name}: {message}")
        else:
            messages.success(request, f"Class “{object_class.name}” saved.")
    else:
        for field, errors in form.errors.items():
            messages.error(request, f"{object_class.name}: {field}: {' '.join(errors)}")
    return redirect("site-classes", slug=site.slug)


@login_required
@require_POST
def import_coco(request: HttpRequest, slug: str) -> HttpResponse:
    site = access_site(request.user, slug, Capability.MANAGE)
    form = CocoImportForm(request.POST, request.FILES)
    result = None
    if form.is_valid():
        try:
            coco = services.parse_coco_bytes(form.cleaned_data["file"].read())
            result = services.import_coco(site=site, coco=coco, user=request.user)
        except ValidationError as exc:
            add_service_errors(form, exc)
    return _render_classes(
        request, site, coco_form=form, coco_result=result, status=200 if result else 400
    )


@login_required
@ensure_csrf_cookie
def label_asset(request: HttpRequest, asset_id: int) -> HttpResponse:
    """Draw, move, resize and name the boxes of one image (the page saves through the API)."""
    asset = asset_selectors.asset_with_site(asset_id)
    if asset is None:
        raise Http404(f"Asset {asset_id} not found.")
    site = access_site(request.user, asset.site.slug, Capability.VIEW)
    previous_unlabelled, next_unlabelled = selectors.neighbour_unlabelled(asset)
    previous_asset, next_asset = selectors.neighbour_assets(asset)
    classes = [{"id": c.pk, "name": c.name, "colour": c.colour} for c in selectors.classes_of(site)]
    context = {
        "site": site,
        "asset": asset,
        "can_label": can(request.user, site, Capability.LABEL),
        "can_manage": can(request.user, site, Capability.MANAGE),
        "classes": classes,
        "label_setup": {
            "asset": asset.pk,
            "width": asset.width,
            "height": asset.height,
            "boxes": BoxOutput(selectors.boxes_of(asset), many=True).data,
            "classes": classes,
        },
        "previous_unlabelled": previous_unlabelled,
        "next_unlabelled": next_unlabelled,
        "previous_asset": previous_asset,
        "next_asset": next_asset,
        "unlabelled": selectors.unlabelled_count(site),
    }
    return render(request, "objects/label.html", context)
