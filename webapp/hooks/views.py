"""Pages: a site's webhooks (list, add), one hook's deliveries and settings (site admins).

A new secret is shown in the answer to the POST that made it, not after a redirect: it
is never stored anywhere it could be shown again (the session, a message).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from webapp.hooks import selectors, services
from webapp.hooks.forms import WebhookForm
from webapp.hooks.models import Webhook
from webapp.pages.confirm import confirm_delete
from webapp.pages.forms import add_service_errors
from webapp.sites.access import access_site
from webapp.sites.deletion import Impact
from webapp.sites.models import Site
from webapp.sites.roles import Capability


def _hook(request: HttpRequest, slug: str, webhook_id: int) -> tuple[Site, Webhook]:
    site = access_site(request.user, slug, Capability.MANAGE)
    webhook = selectors.webhook_of(site, webhook_id)
    if webhook is None:
        raise Http404(f"Webhook {webhook_id} not found.")
    return site, webhook


@login_required
@require_http_methods(["GET", "POST"])
def site_webhooks(request: HttpRequest, slug: str) -> HttpResponse:
    """The site's hooks; POST adds one and shows its secret, once."""
    site = access_site(request.user, slug, Capability.MANAGE)
    form = WebhookForm(request.POST or None, initial={"is_active": True})
    created = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                created = services.register_webhook(
                    site=site, actor=request.user, **form.cleaned_data
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                form = WebhookForm(initial={"is_active": True})
        if created is None:
            status = 400
    context = {
        "site": site,
        "webhooks": list(selectors.webhooks_of(site)),
        "form": form,
        "created": created,
    }
    return render(request, "hooks/webhooks.html", context, status=status)


def _render_detail(
    request: HttpRequest,
    site: Site,
    webhook: Webhook,
    *,
    form: WebhookForm | None = None,
    new_secret: str | None = None,
    status: int = 200,
) -> HttpResponse:
    page = Paginator(selectors.deliveries_of(webhook), 50).get_page(request.GET.get("page"))
    initial = {
        "url": webhook.url,
        "events": webhook.events,
        "description": webhook.description,
        "is_active": webhook.is_active,
    }
    context: dict[str, Any] = {
        "site": site,
        "webhook": webhook,
        "page": page,
        "form": form or WebhookForm(initial=initial),
        "new_secret": new_secret,
        "max_attempts": settings.WEBHOOK_MAX_ATTEMPTS,
    }
    return render(request, "hooks/webhook_detail.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def webhook_detail(request: HttpRequest, slug: str, webhook_id: int) -> HttpResponse:
    """One hook's delivery log (50 a page) and its settings form (POST saves)."""
    site, webhook = _hook(request, slug, webhook_id)
    if request.method == "GET":
        return _render_detail(request, site, webhook)
    form = WebhookForm(request.POST)
    if form.is_valid():
        try:
            services.update_webhook(webhook=webhook, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Webhook saved.")
            return redirect("site-webhook", slug=site.slug, webhook_id=webhook.pk)
    webhook.refresh_from_db()
    return _render_detail(request, site, webhook, form=form, status=400)


@login_required
@require_POST
def send_test(request: HttpRequest, slug: str, webhook_id: int) -> HttpResponse:
    site, webhook = _hook(request, slug, webhook_id)
    services.send_test_event(webhook=webhook, actor=request.user)
    messages.success(request, "Test event queued; its delivery appears below.")
    return redirect("site-webhook", slug=site.slug, webhook_id=webhook.pk)


@login_required
@require_POST
def rotate_secret(request: HttpRequest, slug: str, webhook_id: int) -> HttpResponse:
    site, webhook = _hook(request, slug, webhook_id)
    webhook = services.rotate_secret(webhook=webhook, actor=request.user)
    return _render_detail(request, site, webhook, new_secret=webhook.secret)


@login_required
@require_http_methods(["GET", "POST"])
def delete_webhook(request: HttpRequest, slug: str, webhook_id: int) -> HttpResponse:
    site, webhook = _hook(request, slug, webhook_id)
    count = webhook.deliveries.count()
    return confirm_delete(
        request,
        site=site,
        what=f"webhook {webhook.pk} ({webhook.url})",
        impact=Impact(),
        delete=lambda _typed: services.delete_webhook(webhook=webhook, actor=request.user),
        cancel_url=reverse("site-webhook", args=[site.slug, webhook.pk]),
        done_url=reverse("site-webhooks", args=[site.slug]),
        note=f"Its delivery log ({count} deliveries) goes with it; deliveries still queued "
        "are not sent.",
    )
