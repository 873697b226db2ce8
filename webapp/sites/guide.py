"""The first steps of a site, in order, so that someone new to it always sees what to do next.

The site page shows them as a checklist until all are done: add normal photos, train a
model, add new photos to check, review what it flags. Each step knows whether it is done,
whether it is the one to do now, and whether the viewer's role allows it.
"""

from __future__ import annotations

import dataclasses

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.urls import reverse

from detection.calibration import normals_needed
from webapp.assets.models import Asset, MediaType, Purpose
from webapp.detectors.models import DetectorVersion, JobStatus
from webapp.detectors.services import MIN_NORMAL_IMAGES
from webapp.review.models import REVIEWED, Flag
from webapp.review.selectors import normal_training_assets, pending_for
from webapp.sites.access import can
from webapp.sites.models import Site
from webapp.sites.roles import Capability


@dataclasses.dataclass(frozen=True)
class Step:
    key: str
    title: str
    text: str
    done: bool
    allowed: bool
    action: str = ""
    url: str = ""
    current: bool = False


@dataclasses.dataclass(frozen=True)
class Guide:
    steps: list[Step]
    n_normal: int
    minimum: int
    recommended: int

    @property
    def finished(self) -> bool:
        return all(step.done for step in self.steps)

    @property
    def current(self) -> Step | None:
        return next((step for step in self.steps if step.current), None)


def recommended_normals() -> int:
    """Normal photos needed before the default false-alarm rate can be promised."""
    return normals_needed(settings.DEFAULT_TARGET_FPR)


def first_steps(site: Site, user: AbstractBaseUser, *, pending: int | None = None) -> Guide:
    """The four steps from an empty site to a first reviewed flag, with their state.

    ``pending``: the flags waiting in ``user``'s queue, when the caller has counted them
    already (:func:`webapp.review.selectors.pending_for`, as the queue counts them).
    """
    n_normal = normal_training_assets(site).count()
    recommended = recommended_normals()
    versions = DetectorVersion.objects.filter(site=site)
    latest = versions.order_by("-number").first()
    trained = versions.filter(status=JobStatus.SUCCEEDED).exists()
    n_checked = (
        Asset.objects.filter(site=site, purpose=Purpose.SCORE)
        .exclude(media_type=MediaType.FRAME)
        .count()
    )
    if pending is None:
        pending = pending_for(site, user)
    reviewed = Flag.objects.filter(site=site, status__in=REVIEWED).exists()
    can_upload = can(user, site, Capability.UPLOAD)
    upload_url = reverse("site-upload", args=[site.slug])
    steps = [
        Step(
            key="normal",
            title="Add photos of what is normal",
            text=_normal_text(n_normal, recommended),
            done=n_normal >= MIN_NORMAL_IMAGES,
            allowed=can_upload,
            action="Add normal photos",
            url=f"{upload_url}?purpose=train",
        ),
        Step(
            key="train",
            title="Train a model",
            text=_train_text(latest, trained),
            done=trained,
            allowed=can(user, site, Capability.MANAGE),
            action="Train a model",
            url=reverse("site-detail", args=[site.slug]) + "#train-title",
        ),
        Step(
            key="check",
            title="Add new photos to check",
            text=(
                f"{n_checked} photo{'s' if n_checked != 1 else ''} or video"
                f"{'s' if n_checked != 1 else ''} checked so far. The model in use checks "
                "every new one and flags what looks unusual."
                if n_checked
                else "Upload the photos (or videos) you want checked; the model in use flags "
                "what looks unusual."
            ),
            done=n_checked > 0,
            allowed=can_upload,
            action="Add photos to check",
            url=f"{upload_url}?purpose=score",
        ),
        Step(
            key="review",
            title="Review what it flags",
            text=(
                f"{pending} flagged photo{'s' if pending != 1 else ''} wait for a decision: "
                "confirm it is unusual, or reject it as normal (the next model learns from it)."
                if pending
                else "Nothing waits for review yet."
                if not reviewed
                else "Reviewed flags teach the next model."
            ),
            done=reviewed,
            allowed=can(user, site, Capability.REVIEW),
            action="Open the review queue",
            url=reverse("site-review", args=[site.slug]),
        ),
    ]
    first_open = next((i for i, step in enumerate(steps) if not step.done), None)
    if first_open is not None:
        steps[first_open] = dataclasses.replace(steps[first_open], current=True)
    return Guide(steps=steps, n_normal=n_normal, minimum=MIN_NORMAL_IMAGES, recommended=recommended)


def _normal_text(n_normal: int, recommended: int) -> str:
    have = f"{n_normal} normal photo{'s' if n_normal != 1 else ''} so far"
    if n_normal < MIN_NORMAL_IMAGES:
        return (
            f"{have}. Photos that show the site as it should be teach the model what to "
            f"expect: at least {MIN_NORMAL_IMAGES}, and {recommended} or more so it can "
            "promise at most 1 false alarm per 100 normal photos."
        )
    if n_normal < recommended:
        return (
            f"{have}: enough to train. With {recommended} or more the model can promise at "
            "most 1 false alarm per 100 normal photos."
        )
    return f"{have}: enough for the model to keep its false-alarm promise."


def _train_text(latest: DetectorVersion | None, trained: bool) -> str:
    if latest is not None and latest.status in (JobStatus.QUEUED, JobStatus.RUNNING):
        return f"Model {latest.number} is training ({round(latest.progress * 100)} %)."
    if latest is not None and latest.status == JobStatus.FAILED and not trained:
        return f"Training model {latest.number} failed: {latest.error[:200]}"
    if trained:
        return "A model has learnt what normal looks like here."
    return (
        "The model learns from the normal photos what to expect. The automatic choice "
        "needs no settings."
    )
