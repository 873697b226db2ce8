"""Deletion confirmation pages and the audit log page, through Django's test client."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from tests.api.test_videos import post_upload
from tests.factories import normal_images, upload_images
from tests.pages.test_pages import make_version
from tests.vidfiles import clip_bytes
from webapp.assets.models import Asset, Upload
from webapp.detectors.models import DetectorVersion
from webapp.review.services import record_scores
from webapp.sites.models import AuditEntry, Site

pytestmark = pytest.mark.django_db


def csrf_client(user) -> Client:  # type: ignore[no-untyped-def]
    """A signed-in client that checks CSRF tokens, as a browser would."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def csrf_token(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.context["csrf_token"]


@pytest.fixture
def extracted(api, run_tasks):  # type: ignore[no-untyped-def]
    """Upload a score video and run its frame extraction in-process."""

    def upload(name: str, data: bytes) -> Asset:
        with run_tasks():
            response = post_upload(api("uploader"), "score", [(name, data)])
        assert response.status_code == 201, response.json()
        return Asset.objects.get(pk=response.json()["assets"][0]["id"])

    return upload


def test_upload_delete_page_confirm_flow(site, users, django_capture_on_commit_callbacks):
    assets = upload_images(site, users["uploader"], "train", normal_images(4))
    other = upload_images(site, users["uploader"], "train", normal_images(2, start=50))
    upload = assets[0].upload
    files = [a.file.name for a in assets]
    client = csrf_client(users["uploader"])
    detail = client.get(f"/sites/{site.slug}/").content.decode()
    assert f'href="/uploads/{upload.pk}/delete/"' in detail
    assert "/sites/park/delete/" not in detail  # uploaders may not delete the site

    url = f"/uploads/{upload.pk}/delete/"
    page = client.get(url)
    assert page.status_code == 200
    rows = dict(page.context["rows"])
    assert rows["images"] == 4 and rows["files in storage"] == 4
    assert client.post(url).status_code == 403  # no CSRF token
    assert Upload.objects.filter(pk=upload.pk).exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"csrfmiddlewaretoken": csrf_token(client, url)}, follow=True)
    assert response.redirect_chain[-1][0] == f"/sites/{site.slug}/"
    assert f"Deleted train upload #{upload.pk}." in response.content.decode()
    assert not Upload.objects.filter(pk=upload.pk).exists()
    assert not any(default_storage.exists(name) for name in files)
    assert Asset.objects.filter(pk__in=[a.pk for a in other]).count() == 2
    entry = AuditEntry.objects.get(action="deletion")
    assert entry.actor_name == "uploader" and entry.object_type == "upload"


def test_pages_refuse_roles_that_may_not_delete(site, users):
    asset = upload_images(site, users["uploader"], "train", normal_images(1))[0]
    version = make_version(site)
    for who in ("viewer", "reviewer"):
        client = csrf_client(users[who])
        assert "delete-asset-link" not in client.get(f"/assets/{asset.pk}/").content.decode()
        assert client.get(f"/assets/{asset.pk}/delete/").status_code == 403
        assert client.get(f"/uploads/{asset.upload_id}/delete/").status_code == 403
        assert client.get(f"/sites/{site.slug}/audit/").status_code == 403
    uploader = csrf_client(users["uploader"])
    assert "delete-asset-link" in uploader.get(f"/assets/{asset.pk}/").content.decode()
    assert uploader.get(f"/versions/{version.pk}/delete/").status_code == 403
    assert uploader.get(f"/sites/{site.slug}/delete/").status_code == 403
    outsider = csrf_client(users["outsider"])
    assert outsider.get(f"/assets/{asset.pk}/delete/").status_code == 404
    assert outsider.get(f"/sites/{site.slug}/audit/").status_code == 404


def test_version_page_refuses_the_active_version(site, users):
    version = make_version(site)
    Site.objects.filter(pk=site.pk).update(active_version=version)
    client = csrf_client(users["admin"])
    assert (
        "delete-version-link"
        not in client.get(f"/versions/{version.pk}/", follow=True).content.decode()
    )
    url = f"/versions/{version.pk}/delete/"
    response = client.post(url, {"csrfmiddlewaretoken": csrf_token(client, url)})
    assert response.status_code == 409
    assert "activate another version first" in response.content.decode()
    older = make_version(site)
    assert (
        "delete-version-link" in client.get(f"/versions/{older.pk}/", follow=True).content.decode()
    )
    response = client.post(
        f"/versions/{older.pk}/delete/", {"csrfmiddlewaretoken": csrf_token(client, url)}
    )
    assert response.status_code == 302
    assert DetectorVersion.objects.filter(pk=version.pk).exists()
    assert not DetectorVersion.objects.filter(pk=older.pk).exists()


def test_site_page_needs_the_slug_typed(site, users, django_capture_on_commit_callbacks):
    asset = upload_images(site, users["uploader"], "train", normal_images(2))[0]
    client = csrf_client(users["admin"])
    detail = client.get(f"/sites/{site.slug}/").content.decode()
    assert 'href="/sites/park/delete/"' in detail and 'href="/sites/park/audit/"' in detail
    url = f"/sites/{site.slug}/delete/"
    token = csrf_token(client, url)
    wrong = client.post(url, {"csrfmiddlewaretoken": token, "confirm": "parc"})
    assert wrong.status_code == 400
    assert "confirm with its slug" in wrong.content.decode()
    assert Site.objects.filter(pk=site.pk).exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"csrfmiddlewaretoken": token, "confirm": "park"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert not Site.objects.filter(slug="park").exists()
    assert not default_storage.exists(asset.file.name)


def test_audit_page_lists_entries_and_filters(site, users):
    upload_images(site, users["uploader"], "train", normal_images(2))
    client = csrf_client(users["admin"])
    client.post(
        f"/sites/{site.slug}/members/",
        {"csrfmiddlewaretoken": csrf_token(client, f"/sites/{site.slug}/"), "username": "outsider",
         "role": "viewer"},
    )  # fmt: skip
    page = client.get(f"/sites/{site.slug}/audit/").content.decode()
    assert "uploaded 2 files for train" in page and "added outsider as viewer" in page
    only = client.get(f"/sites/{site.slug}/audit/?action=member_added").content.decode()
    assert "added outsider as viewer" in only and "uploaded 2 files" not in only


def test_deleting_a_video_takes_its_frames_preview_and_segments(
    site,
    users,
    extracted,
    django_capture_on_commit_callbacks,
):
    video = extracted("clip.mp4", clip_bytes(10))
    video.video.refresh_from_db()
    frames = list(video.frames.all())
    assert frames
    version = make_version(site)
    record_scores(version=version, assets=frames, scores=[0.9] * len(frames))
    files = [video.file.name, video.video.preview.name, *(f.file.name for f in frames)]
    files = [name for name in files if name]
    assert all(default_storage.exists(name) for name in files)
    client = csrf_client(users["uploader"])
    url = f"/assets/{video.pk}/delete/"
    rows = dict(client.get(url).context["rows"])
    assert rows["videos"] == 1 and rows["video frames"] == len(frames)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"csrfmiddlewaretoken": csrf_token(client, url)})
    assert response.status_code == 302
    assert not Asset.objects.filter(pk__in=[video.pk, *(f.pk for f in frames)]).exists()
    assert not any(default_storage.exists(name) for name in files)
