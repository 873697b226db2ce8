"""Writes the audit log: services call :func:`record` for every change worth answering for.

Entries are written inside the caller's transaction, so a change that rolls back leaves
no entry, and one that commits always has one.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from webapp.sites.models import AuditEntry, Site


def record(
    *,
    site: Site,
    actor: AbstractBaseUser | AnonymousUser | None,
    action: str,
    object_type: str,
    object_id: int | str | None,
    summary: str,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """One audit entry; ``actor`` None (or anonymous) means the system (a worker)."""
    user = actor if actor is not None and actor.is_authenticated else None
    return AuditEntry.objects.create(
        site=site,
        site_slug=site.slug,
        actor=user,
        actor_name=user.get_username() if user is not None else "",
        action=action,
        object_type=object_type,
        object_id="" if object_id is None else str(object_id),
        summary=summary[:500],
        details=details or {},
    )
