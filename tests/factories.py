"""factory_boy factories and helpers that create data through the real services."""

from __future__ import annotations

import io
from collections.abc import Iterable

import factory
from django.contrib.auth import get_user_model

from tests.images import green_texture, grey_blue_scene, png_bytes
from webapp.assets.models import Asset
from webapp.assets.services import IncomingFile, create_upload
from webapp.common.jobs import JobStatus
from webapp.detectors.models import DetectorVersion
from webapp.sites.models import Membership, Site
from webapp.sites.roles import Role


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("correct-horse-battery")


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site

    slug = factory.Sequence(lambda n: f"site-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    site = factory.SubFactory(SiteFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.VIEWER


def member(site: Site, role: str, username: str | None = None):  # type: ignore[no-untyped-def]
    user = UserFactory(username=username or f"{role}-{site.slug}")
    MembershipFactory(site=site, user=user, role=role)
    return user


def upload_images(
    site: Site,
    user,
    purpose: str,
    named_images: Iterable[tuple[str, bytes]],  # type: ignore[no-untyped-def]
) -> list[Asset]:
    files = [IncomingFile(name=name, handle=io.BytesIO(data)) for name, data in named_images]
    return create_upload(site=site, user=user, purpose=purpose, files=files).assets


def normal_images(count: int, start: int = 0) -> list[tuple[str, bytes]]:
    return [
        (f"green-{i:03d}.png", png_bytes(green_texture(i))) for i in range(start, start + count)
    ]


def odd_images(count: int, start: int = 0) -> list[tuple[str, bytes]]:
    return [
        (f"odd-{i:03d}.png", png_bytes(grey_blue_scene(i))) for i in range(start, start + count)
    ]


def trained_version(site: Site, number: int) -> DetectorVersion:
    """A succeeded ``histogram_iforest`` version with threshold 0.5 and no artefact."""
    return DetectorVersion.objects.create(
        site=site,
        number=number,
        kind="histogram_iforest",
        status=JobStatus.SUCCEEDED,
        threshold=0.5,
    )
