"""Writes on sites and memberships."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from webapp.sites import audit
from webapp.sites.access import forget_roles
from webapp.sites.models import AuditAction, Membership, Site
from webapp.sites.roles import Role


@transaction.atomic
def create_site(
    *, creator: AbstractBaseUser, name: str, slug: str = "", description: str = ""
) -> Site:
    """Create a site; its creator becomes its admin.

    Without a ``slug`` (the name in addresses), one is made from the name, with -2, -3...
    when taken; a slug given explicitly must be free.
    """
    if not slug:
        slug = free_slug(name)
    if Site.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": f"A site with slug '{slug}' already exists."})
    try:
        with transaction.atomic():
            site = Site.objects.create(slug=slug, name=name, description=description)
    except IntegrityError:
        raise ValidationError({"slug": f"A site with slug '{slug}' already exists."}) from None
    Membership.objects.create(site=site, user=creator, role=Role.ADMIN)
    return site


def free_slug(name: str) -> str:
    """A slug from ``name`` that no site has yet (``site`` when the name has no letters)."""
    base = slugify(name)[:58].strip("-") or "site"
    taken = set(Site.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    if base not in taken:
        return base
    return next(f"{base}-{n}" for n in range(2, len(taken) + 3) if f"{base}-{n}" not in taken)


@transaction.atomic
def set_membership(
    *, site: Site, username: str, role: str, actor: AbstractBaseUser | None = None
) -> Membership:
    """Give ``username`` ``role`` on ``site`` (adds or changes the membership)."""
    if role not in Role.values:
        raise ValidationError(
            {"role": f"Unknown role '{role}'; choose one of {', '.join(Role.values)}."}
        )
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ValidationError({"username": f"No user named '{username}'."})
    before = Membership.objects.filter(site=site, user=user).values_list("role", flat=True).first()
    membership, created = Membership.objects.update_or_create(
        site=site, user=user, defaults={"role": role}
    )
    forget_roles(site)
    if created or before != role:
        audit.record(
            site=site,
            actor=actor,
            action=AuditAction.MEMBER_ADDED if created else AuditAction.MEMBER_CHANGED,
            object_type="member",
            object_id=user.pk,
            summary=f"added {username} as {role}"
            if created
            else f"changed {username} from {before} to {role}",
            details={"username": username, "role": role, "previous_role": before},
        )
    return membership


@transaction.atomic
def remove_membership(*, site: Site, username: str, actor: AbstractBaseUser | None = None) -> None:
    membership = Membership.objects.filter(site=site, user__username=username).first()
    if membership is None:
        raise ValidationError({"username": f"'{username}' is not a member of '{site.slug}'."})
    membership.delete()
    forget_roles(site)
    audit.record(
        site=site,
        actor=actor,
        action=AuditAction.MEMBER_REMOVED,
        object_type="member",
        object_id=membership.user_id,
        summary=f"removed {username} ({membership.role})",
        details={"username": username, "role": membership.role},
    )


_SETTINGS = (
    "name",
    "description",
    "video_sample_fps",
    "segment_min_length",
    "segment_max_gap",
    "known_answer_checks",
    "known_answer_every",
    "second_opinion",
)
#: One known-answer check in at most every second flag, at least every thousandth.
KNOWN_ANSWER_EVERY = (2, 1000)


@transaction.atomic
def update_site_settings(
    *, site: Site, actor: AbstractBaseUser | None = None, **changes: object
) -> Site:
    """Change some of a site's settings.

    ``video_sample_fps`` (frames kept per second, 0 = all) applies to videos uploaded from
    now on; the segment parameters apply from the next scoring; the reviewer-quality ones
    (``known_answer_checks``, ``known_answer_every``, ``second_opinion``; see
    :mod:`webapp.review.quality`) from the next queue a reviewer opens or decision they make.
    """
    unknown = set(changes) - set(_SETTINGS)
    if unknown:
        raise ValidationError({name: "not a site setting" for name in unknown})
    fps = changes.get("video_sample_fps")
    if fps is not None and (float(fps) < 0 or float(fps) > 1000):  # type: ignore[arg-type]
        raise ValidationError({"video_sample_fps": "between 0 (every frame) and 1000"})
    every = changes.get("known_answer_every")
    low, high = KNOWN_ANSWER_EVERY
    if every is not None and (not isinstance(every, int) or not low <= every <= high):
        raise ValidationError({"known_answer_every": f"between {low} and {high}"})
    before = {name: getattr(site, name) for name in changes}
    for name, value in changes.items():
        setattr(site, name, value)
    site.save(update_fields=list(changes) or None)
    changed = {n: [before[n], v] for n, v in changes.items() if before[n] != v}
    if changed:
        audit.record(
            site=site,
            actor=actor,
            action=AuditAction.SETTINGS_CHANGED,
            object_type="site",
            object_id=site.slug,
            summary="changed "
            + ", ".join(f"{n} from {o!r} to {v!r}" for n, (o, v) in changed.items()),
            details={"changes": changed},
        )
    return site
