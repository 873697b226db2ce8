"""Roles a user holds on a site, and what each role may do there."""

from __future__ import annotations

import enum

from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    REVIEWER = "reviewer", "Reviewer"
    UPLOADER = "uploader", "Uploader"
    VIEWER = "viewer", "Viewer"


class Capability(enum.StrEnum):
    VIEW = "view"
    UPLOAD = "upload"
    REVIEW = "review"
    MANAGE = "manage"  # train, activate and roll back versions, manage members
    LABEL = "label"  # draw and name object boxes (uploaders, reviewers and admins)


CAPABILITIES: dict[str, frozenset[Capability]] = {
    Role.VIEWER: frozenset({Capability.VIEW}),
    Role.UPLOADER: frozenset({Capability.VIEW, Capability.UPLOAD, Capability.LABEL}),
    Role.REVIEWER: frozenset({Capability.VIEW, Capability.REVIEW, Capability.LABEL}),
    Role.ADMIN: frozenset(Capability),
}

CAPABILITY_VERBS = {
    Capability.VIEW: "view this site",
    Capability.UPLOAD: "upload to this site",
    Capability.REVIEW: "review flags on this site",
    Capability.MANAGE: "manage detectors and members of this site",
    Capability.LABEL: "label objects on this site",
}
