"""Writes on webhooks: register, change, delete, rotate the secret; emit events; deliver.

Emitting is transactional (an outbox): :func:`emit` writes one :class:`Delivery` per
subscribed hook inside the caller's transaction, so an event that rolls back sends
nothing and one that commits always has its deliveries, and enqueues them only after
commit. A delivery is a job (``webapp.common.jobs``): claimed before each attempt, so a
task delivered twice posts once per attempt; its body is fixed at the event, so retries
send the same bytes, signed afresh (a new timestamp) each time.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from webapp.common.jobs import JobStatus, gave_up_reason, run_claimed, take_back_gone
from webapp.hooks import signing, transport
from webapp.hooks.models import PING_EVENT, Delivery, DeliveryAttempt, Webhook, WebhookEvent
from webapp.sites import audit
from webapp.sites.models import AuditAction, Site

logger = logging.getLogger(__name__)

Actor = AbstractBaseUser | AnonymousUser | None

#: A site with more hooks than this is more likely a mistake than a design.
MAX_WEBHOOKS_PER_SITE = 20
USER_AGENT = "anomaly-review-webhooks/1"
#: Answers worth trying again: the receiver is down, overloaded or slow.
RETRIED_CODES = {408, 425, 429}


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


# --- validation ----------------------------------------------------------------------------


def clean_url(url: str) -> str:
    """An http(s) URL with a host and no credentials; local hosts refused when so set."""
    url = (url or "").strip()
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ValidationError(
            {"url": "Enter an http:// or https:// URL with a host, e.g. https://example.org/hook."}
        ) from None
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018  (parsing it is the check: URLValidator lets 99999 through)
    except ValueError:
        raise ValidationError({"url": "The port must be a number from 1 to 65535."}) from None
    if parts.username or parts.password:
        raise ValidationError(
            {
                "url": "Leave the user name and password out of the URL: the signature tells "
                "the receiver a delivery is genuine."
            }
        )
    try:
        transport.check_url_host(url, allow_private=settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES)
    except transport.AddressNotAllowed as exc:
        raise ValidationError({"url": str(exc)}) from None
    return url


def clean_events(events: Iterable[str]) -> list[str]:
    """Known event names, each once, in the order of :class:`WebhookEvent`."""
    chosen = set(events or [])
    unknown = sorted(chosen - set(WebhookEvent.values))
    if unknown:
        choices = ", ".join(WebhookEvent.values)
        raise ValidationError(
            {"events": f"unknown event {', '.join(unknown)}; choose among {choices}."}
        )
    if not chosen:
        raise ValidationError({"events": "Choose at least one event."})
    return [event for event in WebhookEvent.values if event in chosen]


# --- hooks -----------------------------------------------------------------------------


def _audit(webhook: Webhook, actor: Actor, action: str, summary: str, **details: Any) -> None:
    audit.record(
        site=webhook.site,
        actor=actor,
        action=action,
        object_type="webhook",
        object_id=webhook.pk,
        summary=summary,
        details={"url": webhook.url, "events": webhook.events, **details},
    )


@transaction.atomic
def register_webhook(
    *,
    site: Site,
    actor: Actor,
    url: str,
    events: Iterable[str],
    description: str = "",
    is_active: bool = True,
) -> Webhook:
    """A new hook with a fresh secret (the caller shows it once: it is never listed)."""
    url, events = clean_url(url), clean_events(events)
    Site.objects.select_for_update().filter(pk=site.pk).first()
    if Webhook.objects.filter(site=site).count() >= MAX_WEBHOOKS_PER_SITE:
        raise ValidationError(
            f"Site '{site.slug}' already has {MAX_WEBHOOKS_PER_SITE} webhooks; delete one first."
        )
    webhook = Webhook.objects.create(
        site=site,
        url=url,
        events=events,
        description=description.strip(),
        is_active=is_active,
        secret=new_secret(),
        created_by=actor if actor is not None and actor.is_authenticated else None,
    )
    _audit(webhook, actor, AuditAction.WEBHOOK_ADDED, f"added webhook {webhook.pk} to {url}")
    return webhook


_CHANGEABLE = ("url", "events", "description", "is_active")


@transaction.atomic
def update_webhook(*, webhook: Webhook, actor: Actor, **changes: Any) -> Webhook:
    """Change a hook's URL, events, description or whether it is active (not its secret)."""
    unknown = set(changes) - set(_CHANGEABLE)
    if unknown:
        raise ValidationError({name: "not a webhook setting" for name in sorted(unknown)})
    if "url" in changes:
        changes["url"] = clean_url(changes["url"])
    if "events" in changes:
        changes["events"] = clean_events(changes["events"])
    if "description" in changes:
        changes["description"] = str(changes["description"]).strip()
    changed = {
        name: [getattr(webhook, name), value]
        for name, value in changes.items()
        if getattr(webhook, name) != value
    }
    for name, value in changes.items():
        setattr(webhook, name, value)
    webhook.save()
    if changed:
        _audit(
            webhook,
            actor,
            AuditAction.WEBHOOK_CHANGED,
            f"changed webhook {webhook.pk}: "
            + ", ".join(f"{name} from {old!r} to {new!r}" for name, (old, new) in changed.items()),
            changes=changed,
        )
    return webhook


@transaction.atomic
def rotate_secret(*, webhook: Webhook, actor: Actor) -> Webhook:
    """A new secret, at once: attempts from now on (retries included) are signed with it."""
    webhook.secret = new_secret()
    webhook.secret_rotated_at = timezone.now()
    webhook.save(update_fields=["secret", "secret_rotated_at", "updated_at"])
    summary = f"rotated the secret of webhook {webhook.pk}"
    _audit(webhook, actor, AuditAction.WEBHOOK_SECRET_ROTATED, summary)
    return webhook


@transaction.atomic
def delete_webhook(*, webhook: Webhook, actor: Actor) -> None:
    """Delete a hook with its delivery log; deliveries still queued are not sent."""
    deliveries = webhook.deliveries.count()
    _audit(
        webhook,
        actor,
        AuditAction.WEBHOOK_REMOVED,
        f"deleted webhook {webhook.pk} ({webhook.url}) and its {deliveries} deliveries",
        deliveries=deliveries,
    )
    webhook.delete()


@transaction.atomic
def send_test_event(*, webhook: Webhook, actor: Actor) -> Delivery:
    """Queue a ``ping`` delivery to this hook, whatever events it subscribes to."""
    user = actor.get_username() if actor is not None and actor.is_authenticated else None
    data = {"message": "A test event: this webhook is set up.", "sent_by": user}
    return _create_deliveries([webhook], PING_EVENT, data)[0]


# --- events --------------------------------------------------------------------------------


def emit(
    *, site_id: int, event: str, data: Mapping[str, Any] | Callable[[], Mapping[str, Any]]
) -> list[Delivery]:
    """Queue ``event`` for every active hook of the site that subscribes to it.

    Call it inside the transaction that makes the event happen. ``data`` may be a function
    that builds the payload, so that a site with no hook for the event pays one query
    (the hook lookup) and never the payload's.
    """
    hooks = [
        hook
        for hook in Webhook.objects.filter(site_id=site_id, is_active=True).select_related("site")
        if event in hook.events
    ]
    if not hooks:
        return []
    return _create_deliveries(hooks, event, data() if callable(data) else data)


def _body(uid: uuid.UUID, event: str, site: Site, data: Mapping[str, Any]) -> str:
    envelope = {
        "id": str(uid),
        "event": event,
        "created_at": timezone.now(),
        "site": {"slug": site.slug, "name": site.name},
        "data": data,
    }
    return json.dumps(envelope, cls=DjangoJSONEncoder, separators=(",", ":"))


def _create_deliveries(hooks: list[Webhook], event: str, data: Mapping[str, Any]) -> list[Delivery]:
    deliveries = []
    for hook in hooks:
        uid = uuid.uuid4()
        deliveries.append(
            Delivery.objects.create(
                webhook=hook, event=event, uid=uid, body=_body(uid, event, hook.site, data)
            )
        )
    ids = [delivery.pk for delivery in deliveries]
    transaction.on_commit(lambda: _enqueue(ids))
    return deliveries


def _enqueue(delivery_ids: list[int], countdown: float | None = None) -> None:
    from workers.tasks import deliver_webhook

    for delivery_id in delivery_ids:
        deliver_webhook.apply_async(args=[delivery_id], queue="cpu", countdown=countdown)


# --- delivering ----------------------------------------------------------------------------


def retry_delay(attempt: int) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1, 2...): exponential.

    ``WEBHOOK_RETRY_BASE_SECONDS`` x 4^(attempt - 1), at most ``WEBHOOK_RETRY_MAX_SECONDS``:
    by default 10 s, 40 s, 2 min 40 s, 10 min 40 s, 42 min 40 s.
    """
    delay = settings.WEBHOOK_RETRY_BASE_SECONDS * 4 ** max(0, attempt - 1)
    return float(min(delay, settings.WEBHOOK_RETRY_MAX_SECONDS))


def headers_for(delivery: Delivery, secret: str, timestamp: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        signing.EVENT_HEADER: delivery.event,
        signing.DELIVERY_HEADER: str(delivery.uid),
        signing.TIMESTAMP_HEADER: str(timestamp),
        signing.SIGNATURE_HEADER: signing.sign(secret, timestamp, delivery.body.encode()),
    }


def deliver(*, delivery_id: int) -> None:
    """One attempt of a delivery; if it is to be tried again, the next is enqueued."""
    if not run_claimed(Delivery, delivery_id, _attempt):
        logger.info("delivery %s held by a live worker or done; nothing to do", delivery_id)
        return
    due = (
        Delivery.objects.filter(pk=delivery_id, status=JobStatus.QUEUED)
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if due is not None:  # a worker, not a web request: no transaction to wait for
        _enqueue([delivery_id], countdown=max(0.0, (due - timezone.now()).total_seconds()))


def _verdict(answer: transport.Answer, attempt: int) -> tuple[str, str]:
    """(status after this attempt, the error to show): succeeded, queued again or failed."""
    code = answer.status_code
    if code is not None and 200 <= code < 300:
        return JobStatus.SUCCEEDED, ""
    if code is None:
        error, retry = answer.error, not answer.permanent
    else:
        error = f"HTTP {code}" + (f": {answer.snippet}" if answer.snippet else "")
        retry = code >= 500 or code in RETRIED_CODES
        if 300 <= code < 400:
            error += " (redirects are not followed: register the final URL)"
        elif not retry:
            error += " (a 4xx answer is not retried)"
    if retry and attempt >= settings.WEBHOOK_MAX_ATTEMPTS:
        return JobStatus.FAILED, f"gave up after {attempt} attempts; last: {error}"
    return (JobStatus.QUEUED if retry else JobStatus.FAILED), error


def _attempt(delivery_id: int) -> None:
    delivery = Delivery.objects.select_related("webhook").get(pk=delivery_id)
    gave_up = gave_up_reason(delivery.takeovers)
    if gave_up:
        record_delivery_failure(delivery_id, gave_up)
        return
    hook = delivery.webhook
    if not hook.is_active:
        record_delivery_failure(delivery_id, "not sent: the webhook was turned off")
        return
    started_at = timezone.now()
    body = delivery.body.encode()
    answer = transport.post(
        hook.url,
        body,
        headers_for(delivery, hook.secret, int(time.time())),
        timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
        allow_private=settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES,
    )
    number = delivery.attempts + 1
    status, error = _verdict(answer, number)
    now = timezone.now()
    with transaction.atomic():
        # the update first: it locks the row, and finds none if the hook was deleted meanwhile
        recorded = Delivery.objects.filter(pk=delivery_id, status=JobStatus.RUNNING).update(
            status=status,
            attempts=number,
            last_status_code=answer.status_code,
            last_error=error[:500],
            next_attempt_at=now + timedelta(seconds=retry_delay(number))
            if status == JobStatus.QUEUED
            else None,
            delivered_at=now if status == JobStatus.SUCCEEDED else None,
        )
        if recorded:
            DeliveryAttempt.objects.create(
                delivery=delivery,
                number=number,
                started_at=started_at,
                duration_ms=answer.duration_ms,
                status_code=answer.status_code,
                error=error[:500],
            )
    log = logger.info if status == JobStatus.SUCCEEDED else logger.warning
    log("delivery %s (%s) attempt %s: %s", delivery_id, delivery.event, number, error or "ok")


def record_delivery_failure(delivery_id: int, reason: str) -> None:
    """Mark a delivery failed for good with the reason (the task gave up, or it may not run)."""
    Delivery.objects.filter(
        pk=delivery_id, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
    ).update(status=JobStatus.FAILED, last_error=reason[:500], next_attempt_at=None)


def requeue_stale_deliveries() -> int:
    """Send again the deliveries whose worker died while posting (for the watchdog)."""
    ids = take_back_gone(Delivery)
    if ids:
        _enqueue(ids)
    return len(ids)
