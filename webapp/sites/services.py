"""Writes on sites and memberships."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from webapp.sites.models import Membership, Site
from webapp.sites.roles import Role


@transaction.atomic
def create_site(*, creator: AbstractBaseUser, slug: str, name: str, description: str = "") -> Site:
    """Create a site; its creator becomes its admin."""
    if Site.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": f"A site with slug '{slug}' already exists."})
    try:
        with transaction.atomic():
            site = Site.objects.create(slug=slug, name=name, description=description)
    except IntegrityError:
        raise ValidationError({"slug": f"A site with slug '{slug}' already exists."}) from None
    Membership.objects.create(site=site, user=creator, role=Role.ADMIN)
    return site


@transaction.atomic
def set_membership(*, site: Site, username: str, role: str) -> Membership:
    """Give ``username`` ``role`` on ``site`` (adds or changes the membership)."""
    if role not in Role.values:
        raise ValidationError(
            {"role": f"Unknown role '{role}'; choose one of {', '.join(Role.values)}."}
        )
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ValidationError({"username": f"No user named '{username}'."})
    membership, _ = Membership.objects.update_or_create(
        site=site, user=user, defaults={"role": role}
    )
    return membership


@transaction.atomic
def remove_membership(*, site: Site, username: str) -> None:
    deleted, _ = Membership.objects.filter(site=site, user__username=username).delete()
    if not deleted:
        raise ValidationError({"username": f"'{username}' is not a member of '{site.slug}'."})


_SETTINGS = ("name", "description", "video_sample_fps", "segment_min_length", "segment_max_gap")


@transaction.atomic
def update_site_settings(*, site: Site, **changes: object) -> Site:
    """Change some of a site's settings.

    ``video_sample_fps`` (frames kept per second, 0 = all) applies to videos uploaded from
    now on; the segment parameters apply from the next scoring.
    """
    unknown = set(changes) - set(_SETTINGS)
    if unknown:
        raise ValidationError({name: "not a site setting" for name in unknown})
    fps = changes.get("video_sample_fps")
    if fps is not None and (float(fps) < 0 or float(fps) > 1000):  # type: ignore[arg-type]
        raise ValidationError({"video_sample_fps": "between 0 (every frame) and 1000"})
    for name, value in changes.items():
        setattr(site, name, value)
    site.save(update_fields=list(changes) or None)
    return site
