"""Every API operation x every role, against the written policy below.

The policy is the specification: which capability each operation needs (``PUBLIC``: anyone,
``SIGNED_IN``: any account). Members without the capability get 403; accounts that are not
members get the same 404 as for an id that does not exist; anonymous clients get 401; staff
may do everything. The table must name every operation of the OpenAPI schema, so a new
endpoint cannot ship without a line here.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.urls import reverse

from tests.conftest import client_for
from tests.factories import UserFactory, member, normal_images, upload_images
from tests.vidfiles import clip_bytes
from webapp.assets.services import IncomingFile, attach_mask, create_upload
from webapp.detectors.models import DetectorVersion, JobStatus, ScoringJob
from webapp.hooks.services import register_webhook
from webapp.objects.models import ObjectClass
from webapp.review.models import Flag
from webapp.review.services import record_scores
from webapp.sites.models import Site
from webapp.sites.roles import CAPABILITIES, Capability

pytestmark = pytest.mark.django_db

PUBLIC, SIGNED_IN = "public", "signed-in"
VIEW, UPLOAD, REVIEW, MANAGE, LABEL = (
    Capability.VIEW,
    Capability.UPLOAD,
    Capability.REVIEW,
    Capability.MANAGE,
    Capability.LABEL,
)

#: (method, path template) -> (what it needs, whether an allowed caller may still get 404
#: because the thing asked for is legitimately absent, e.g. a heatmap never made).
POLICY: dict[tuple[str, str], tuple[str, bool]] = {
    ("GET", "/api/assets/{asset_id}/"): (VIEW, False),
    ("PATCH", "/api/assets/{asset_id}/"): (UPLOAD, False),
    ("GET", "/api/assets/{asset_id}/boxes/"): (VIEW, False),
    ("PUT", "/api/assets/{asset_id}/boxes/"): (LABEL, False),
    ("GET", "/api/assets/{asset_id}/display/"): (VIEW, False),
    ("GET", "/api/assets/{asset_id}/thumbnail/"): (VIEW, False),
    ("GET", "/api/assets/{asset_id}/image/"): (VIEW, False),
    ("GET", "/api/assets/{asset_id}/mask/"): (VIEW, True),  # gone once a DELETE ran
    ("PUT", "/api/assets/{asset_id}/mask/"): (UPLOAD, False),
    ("DELETE", "/api/assets/{asset_id}/mask/"): (UPLOAD, False),
    ("GET", "/api/assets/{video_id}/frame-labels/"): (VIEW, False),
    ("PUT", "/api/assets/{video_id}/frame-labels/"): (UPLOAD, False),
    ("GET", "/api/assets/{video_id}/frame-scores/"): (VIEW, False),
    ("GET", "/api/assets/{video_id}/preview/"): (VIEW, True),  # made by extraction
    ("POST", "/api/auth/token/"): (PUBLIC, False),
    ("GET", "/api/classes/{class_id}/"): (VIEW, True),  # gone once a DELETE ran
    ("PATCH", "/api/classes/{class_id}/"): (MANAGE, True),
    ("DELETE", "/api/classes/{class_id}/"): (MANAGE, False),
    ("GET", "/api/detector-kinds/"): (SIGNED_IN, False),
    ("GET", "/api/flags/{flag_id}/"): (VIEW, False),
    ("GET", "/api/flags/{flag_id}/heatmap/"): (VIEW, True),  # this kind makes none
    ("POST", "/api/flags/{flag_id}/name-object/"): (REVIEW, False),
    ("POST", "/api/flags/{flag_id}/review/"): (REVIEW, False),
    ("POST", "/api/flags/{flag_id}/undo/"): (REVIEW, False),
    ("GET", "/api/health/"): (PUBLIC, False),
    ("GET", "/api/scoring-jobs/{job_id}/"): (VIEW, False),
    ("GET", "/api/sites/"): (SIGNED_IN, False),
    ("POST", "/api/sites/"): (SIGNED_IN, False),
    ("GET", "/api/sites/{slug}/"): (VIEW, False),
    ("PATCH", "/api/sites/{slug}/"): (MANAGE, False),
    ("GET", "/api/sites/{slug}/assets/"): (VIEW, False),
    ("GET", "/api/sites/{slug}/classes/"): (VIEW, False),
    ("POST", "/api/sites/{slug}/classes/"): (MANAGE, False),
    ("GET", "/api/sites/{slug}/coco/"): (VIEW, False),
    ("GET", "/api/sites/{slug}/dashboard/"): (VIEW, False),
    ("POST", "/api/sites/{slug}/coco/"): (MANAGE, False),
    ("GET", "/api/sites/{slug}/flags/"): (VIEW, False),
    ("POST", "/api/sites/{slug}/flags/review/"): (REVIEW, False),
    ("POST", "/api/sites/{slug}/flags/undo/"): (REVIEW, False),
    ("GET", "/api/sites/{slug}/scoring-status/"): (VIEW, False),
    ("GET", "/api/sites/{slug}/review-settings/"): (MANAGE, False),
    ("PATCH", "/api/sites/{slug}/review-settings/"): (MANAGE, False),
    ("GET", "/api/sites/{slug}/reviewers/"): (MANAGE, False),
    ("GET", "/api/sites/{slug}/members/"): (VIEW, False),
    ("POST", "/api/sites/{slug}/members/"): (MANAGE, False),
    ("POST", "/api/sites/{slug}/rescore/"): (MANAGE, False),
    ("GET", "/api/sites/{slug}/scoring-jobs/"): (VIEW, False),
    ("POST", "/api/sites/{slug}/uploads/"): (UPLOAD, False),
    ("GET", "/api/sites/{slug}/versions/"): (VIEW, False),
    ("POST", "/api/sites/{slug}/versions/"): (MANAGE, False),
    ("GET", "/api/versions/{version_id}/"): (VIEW, False),
    ("POST", "/api/versions/{version_id}/activate/"): (MANAGE, False),
    ("GET", "/api/versions/{version_id}/evaluation/"): (VIEW, False),
    ("GET", "/api/versions/{version_id}/manifest/"): (VIEW, False),
    ("DELETE", "/api/versions/{version_id}/"): (MANAGE, False),
    ("DELETE", "/api/assets/{asset_id}/"): (UPLOAD, False),
    ("GET", "/api/uploads/{upload_id}/"): (VIEW, False),
    ("DELETE", "/api/uploads/{upload_id}/"): (UPLOAD, False),
    ("GET", "/api/sites/{slug}/audit/"): (MANAGE, False),
    ("DELETE", "/api/sites/{slug}/members/{username}/"): (MANAGE, False),
    ("GET", "/api/sites/{slug}/webhooks/"): (MANAGE, False),
    ("POST", "/api/sites/{slug}/webhooks/"): (MANAGE, False),
    ("GET", "/api/sites/{slug}/webhooks/{webhook_id}/"): (MANAGE, False),
    ("PATCH", "/api/sites/{slug}/webhooks/{webhook_id}/"): (MANAGE, False),
    ("POST", "/api/sites/{slug}/webhooks/{webhook_id}/rotate-secret/"): (MANAGE, False),
    ("POST", "/api/sites/{slug}/webhooks/{webhook_id}/test/"): (MANAGE, False),
    ("GET", "/api/sites/{slug}/webhooks/{webhook_id}/deliveries/"): (MANAGE, False),
    ("DELETE", "/api/sites/{slug}/webhooks/{webhook_id}/"): (MANAGE, False),
    ("DELETE", "/api/sites/{slug}/"): (MANAGE, False),
}
#: Deletions run last, in this order: each takes away what the later ones do not need.
DELETE_ORDER = [
    "/api/assets/{asset_id}/mask/",
    "/api/classes/{class_id}/",
    "/api/sites/{slug}/members/{username}/",
    "/api/sites/{slug}/webhooks/{webhook_id}/",
    "/api/assets/{asset_id}/",
    "/api/uploads/{upload_id}/",
    "/api/versions/{version_id}/",
    "/api/sites/{slug}/",
]
#: Bodies that pass the permission check and then fail or succeed harmlessly.
BODIES: dict[tuple[str, str], object] = {
    ("POST", "/api/auth/token/"): {"username": "nobody", "password": "wrong"},
    ("POST", "/api/sites/"): {"slug": "new-site", "name": "New"},
    ("PUT", "/api/assets/{asset_id}/boxes/"): [],
    ("POST", "/api/flags/{flag_id}/review/"): {"decision": "maybe"},
    ("POST", "/api/sites/{slug}/flags/review/"): {"ids": [1], "decision": "maybe"},
    ("POST", "/api/sites/{slug}/flags/undo/"): {"ids": [999_999]},
    ("DELETE", "/api/sites/{slug}/"): {"confirm": "park"},
}
ROLES = ["anonymous", "outsider", "viewer", "uploader", "reviewer", "admin", "staff"]


def _world(site: Site, users: dict) -> dict[str, object]:  # type: ignore[type-arg]
    """One of everything the operations act on, on ``site``."""
    uploader = users["uploader"]
    (image,) = upload_images(site, uploader, "score", normal_images(1))
    mask = np.zeros((image.height, image.width), np.uint8)
    mask[:4, :4] = 255
    attach_mask(asset=image, data=_png(mask))
    video = create_upload(
        site=site,
        user=uploader,
        purpose="score",
        files=[IncomingFile(name="cam.mp4", handle=io.BytesIO(clip_bytes(12)))],
    ).assets[0]
    version = DetectorVersion.objects.create(
        site=site, number=1, kind="histogram_iforest", status=JobStatus.SUCCEEDED, threshold=0.5
    )
    record_scores(version=version, assets=[image], scores=[0.9])
    flag = Flag.objects.get(score__asset=image)
    job = ScoringJob.objects.create(site=site, version=version, total=1)
    object_class = ObjectClass.objects.create(site=site, name="bottle", colour="#ff0000")
    extra = member(site, "viewer", username="extra")
    webhook = register_webhook(
        site=site, actor=users["admin"], url="https://example.org/hook", events=["flag.created"]
    )
    return {
        "upload_id": video.upload_id,
        "username": extra.username,
        "slug": site.slug,
        "asset_id": image.pk,
        "video_id": video.pk,
        "version_id": version.pk,
        "flag_id": flag.pk,
        "job_id": job.pk,
        "class_id": object_class.pk,
        "webhook_id": webhook.pk,
    }


def _png(array: np.ndarray) -> bytes:
    import cv2

    return cv2.imencode(".png", array)[1].tobytes()


def test_the_policy_names_every_operation_of_the_schema(api):  # type: ignore[no-untyped-def]
    schema = api("viewer").get(reverse("api-schema"), {"format": "json"}).json()
    operations = {
        (method.upper(), path.replace("{asset_id}", "{x}"))
        for path, ops in schema["paths"].items()
        for method in ops
        if method in {"get", "post", "put", "patch", "delete"}
    }
    named = {(m, p.replace("{asset_id}", "{x}").replace("{video_id}", "{x}")) for m, p in POLICY}
    assert {p for m, p in POLICY if m == "DELETE"} == set(DELETE_ORDER)
    assert operations == named, (
        f"missing from POLICY: {sorted(operations - named)}; stale: {sorted(named - operations)}"
    )


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_answers_each_role_as_the_policy_says(role, site, users, settings):  # type: ignore[no-untyped-def]
    world = _world(site, users)
    if role == "anonymous":
        from rest_framework.test import APIClient

        client = APIClient()
    elif role == "staff":
        client = client_for(UserFactory(username="staffer", is_staff=True))
    else:
        client = client_for(users[role])
    capabilities = CAPABILITIES.get(role, frozenset(Capability) if role == "staff" else set())
    wrong = []

    # deletions last: they take away what later operations of the same role look at
    def order(item):  # type: ignore[no-untyped-def]
        (method, template), _ = item
        return (1, DELETE_ORDER.index(template)) if method == "DELETE" else (0, template)

    for (method, template), (needs, may_404) in sorted(POLICY.items(), key=order):
        path = template.format(**world)
        body = BODIES.get((method, template), {})
        response = getattr(client, method.lower())(path, body, format="json")
        status = response.status_code
        if needs == PUBLIC:
            ok = status not in (401, 403, 404)
        elif role == "anonymous":
            ok = status == 401
        elif needs == SIGNED_IN:
            ok = status not in (401, 403, 404)
        elif role == "outsider":
            ok = status == 404
        elif needs in capabilities:
            ok = status not in (401, 403) and (may_404 or status != 404)
        else:
            ok = status == 403
        if not ok:
            wrong.append(f"{method} {template}: {status}")
        if status >= 400:
            assert "detail" in response.json(), (method, template, status)
    assert not wrong, f"{role}: " + "; ".join(wrong)
