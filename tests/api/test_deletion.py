"""Deleting uploads, assets, versions and sites, and the audit log (real database and storage)."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage
from django.db import transaction

from tests.api.test_versions_and_review import train, upload
from tests.factories import normal_images, odd_images
from webapp.assets.models import Asset, Upload
from webapp.detectors.models import DetectorVersion, JobStatus
from webapp.objects.models import Box, ObjectClass
from webapp.review.models import Flag, FlagStatus, Score
from webapp.sites import deletion
from webapp.sites.models import AuditEntry, Site

pytestmark = pytest.mark.django_db


def stored_paths(asset_ids: list[int]) -> list[str]:
    """Storage names of the files of these assets (image, mask) and their heatmaps."""
    names: list[str] = []
    for asset in Asset.objects.filter(pk__in=asset_ids):
        names += [asset.file.name, asset.mask.name]
    names += Score.objects.filter(asset_id__in=asset_ids).values_list("heatmap", flat=True)
    return [name for name in names if name]


@pytest.fixture
def scored(api, run_tasks):  # type: ignore[no-untyped-def]
    """30 train images, an active version, and two score uploads with flags on both."""
    train_upload = upload(api("uploader"), "train", normal_images(30))
    version = train(api, run_tasks)
    with run_tasks():
        first = upload(api("uploader"), "score", [*normal_images(3, start=100), *odd_images(3)])
        second = upload(api("uploader"), "score", odd_images(3, start=10))
    return {"train": train_upload, "version": version, "first": first, "second": second}


def ids_of(upload_payload: dict) -> list[int]:  # type: ignore[type-arg]
    return [a["id"] for a in upload_payload["assets"]]


def test_deleting_an_upload_removes_its_files_assets_and_flags_only(
    api, scored, django_capture_on_commit_callbacks
):
    first, second = ids_of(scored["first"]), ids_of(scored["second"])
    flags_first = Flag.objects.filter(score__asset_id__in=first)
    assert flags_first.exists() and Flag.objects.filter(score__asset_id__in=second).exists()
    reviewed = flags_first.first()
    assert api("reviewer").post(f"/api/flags/{reviewed.pk}/review/", {"decision": "confirm"})
    assert api("uploader").get(f"/api/uploads/{scored['first']['id']}/").json()["assets"]
    first_files = stored_paths(first)
    second_files = stored_paths(second)
    assert first_files and all(default_storage.exists(name) for name in first_files)

    with django_capture_on_commit_callbacks(execute=True):
        response = api("uploader").delete(f"/api/uploads/{scored['first']['id']}/")
    assert response.status_code == 200, response.json()
    assert response.json()["deleted"]["images"] == 6
    assert response.json()["deleted"]["reviews"] == 1
    assert not any(default_storage.exists(name) for name in first_files)
    assert not Asset.objects.filter(pk__in=first).exists()
    assert not Upload.objects.filter(pk=scored["first"]["id"]).exists()
    assert not Flag.objects.filter(score__asset_id__in=first).exists()
    assert not Flag.objects.filter(pk=reviewed.pk).exists()
    # the other upload is intact, files included
    assert Asset.objects.filter(pk__in=second).count() == 3
    assert Flag.objects.filter(score__asset_id__in=second).exists()
    assert all(default_storage.exists(name) for name in second_files)
    assert api("uploader").get(f"/api/uploads/{scored['first']['id']}/").status_code == 404

    log = api("admin").get("/api/sites/park/audit/?action=deletion").json()["results"]
    assert log[0]["actor"] == "uploader"
    assert log[0]["object_type"] == "upload"
    assert log[0]["object_id"] == str(scored["first"]["id"])
    assert "deleted score upload" in log[0]["summary"]


def test_deleting_a_train_upload_keeps_the_manifest_of_versions_trained_on_it(
    api, scored, django_capture_on_commit_callbacks, client
):
    version = DetectorVersion.objects.get(pk=scored["version"]["id"])
    manifest = dict(version.manifest)
    with django_capture_on_commit_callbacks(execute=True):
        response = api("admin").delete(f"/api/uploads/{scored['train']['id']}/")
    assert response.status_code == 200
    version.refresh_from_db()
    assert version.manifest == manifest  # history: the ids stay
    assert set(ids_of(scored["train"])) & set(manifest["fit"] + manifest["holdout"])
    client.force_login(version.site.memberships.get(role="admin").user)
    assert (
        client.get(f"/versions/{version.pk}/", follow=True).status_code == 200
    )  # ids naming nothing


def test_deleting_an_asset_removes_its_file_scores_and_flags(
    api, scored, django_capture_on_commit_callbacks
):
    flagged = Flag.objects.filter(score__asset_id__in=ids_of(scored["first"])).first()
    asset = flagged.score.asset
    files = stored_paths([asset.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = api("uploader").delete(f"/api/assets/{asset.pk}/")
    assert response.status_code == 200, response.json()
    assert response.json()["deleted"] == response.json()["deleted"] | {"images": 1, "flags": 1}
    assert not Asset.objects.filter(pk=asset.pk).exists()
    assert not Score.objects.filter(asset_id=asset.pk).exists()
    assert not Flag.objects.filter(pk=flagged.pk).exists()
    assert not any(default_storage.exists(name) for name in files)
    assert Asset.objects.filter(upload_id=scored["first"]["id"]).count() == 5


def test_a_rolled_back_deletion_loses_no_file(api, scored, django_capture_on_commit_callbacks):
    asset = Asset.objects.get(pk=ids_of(scored["second"])[0])
    files = stored_paths([asset.pk])
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        deletion.delete_asset(asset=asset, actor=None)
        raise RuntimeError("something after the deletion failed")
    assert Asset.objects.filter(pk=asset.pk).exists()
    assert all(default_storage.exists(name) for name in files)
    assert not AuditEntry.objects.filter(action="deletion").exists()


def test_who_may_delete(api, scored):
    asset_id = ids_of(scored["second"])[0]
    upload_id = scored["second"]["id"]
    version_id = scored["version"]["id"]
    missing = api("outsider").delete("/api/assets/999999/")
    for who in ("viewer", "reviewer"):
        assert api(who).delete(f"/api/assets/{asset_id}/").status_code == 403
        assert api(who).delete(f"/api/uploads/{upload_id}/").status_code == 403
    for who in ("viewer", "reviewer", "uploader"):
        assert api(who).delete(f"/api/versions/{version_id}/").status_code == 403
        assert api(who).delete("/api/sites/park/?confirm=park").status_code == 403
        assert api(who).get("/api/sites/park/audit/").status_code == 403
    outsider = api("outsider").delete(f"/api/assets/{asset_id}/")
    assert outsider.status_code == 404 == missing.status_code
    assert outsider.json()["detail"] == f"Asset {asset_id} not found."
    assert api("outsider").delete(f"/api/uploads/{upload_id}/").json()["detail"] == (
        f"Upload {upload_id} not found."
    )
    assert api("outsider").delete(f"/api/versions/{version_id}/").status_code == 404
    assert api("outsider").delete("/api/sites/park/?confirm=park").status_code == 404
    assert api("outsider").get("/api/sites/park/audit/").status_code == 404
    assert api("outsider").get(f"/api/uploads/{upload_id}/").status_code == 404
    assert Asset.objects.filter(pk=asset_id).exists()
    assert Site.objects.filter(slug="park").exists()


def test_active_version_refused_and_an_older_one_deleted_with_its_files(
    api, scored, run_tasks, django_capture_on_commit_callbacks
):
    old = scored["version"]["id"]
    refused = api("admin").delete(f"/api/versions/{old}/")
    assert refused.status_code == 409
    assert "activate another version first" in refused.json()["detail"]
    new = train(api, run_tasks)
    with run_tasks():
        assert api("admin").post(f"/api/versions/{new['id']}/activate/").status_code == 200
    artefact = DetectorVersion.objects.get(pk=old).artefact.name
    assert default_storage.exists(artefact)
    with django_capture_on_commit_callbacks(execute=True):
        response = api("admin").delete(f"/api/versions/{old}/")
    assert response.status_code == 200, response.json()
    assert response.json()["deleted"]["scores"] > 0
    assert not DetectorVersion.objects.filter(pk=old).exists()
    assert not Score.objects.filter(version_id=old).exists()
    assert not default_storage.exists(artefact)
    assert Score.objects.filter(version_id=new["id"]).exists()
    actions = [e["action"] for e in api("admin").get("/api/sites/park/audit/").json()["results"]]
    for action in ("upload", "training_requested", "training_succeeded", "activation"):
        assert action in actions
    assert actions[0] == "deletion"


def test_running_jobs_refuse_the_deletion(api, scored):
    running = DetectorVersion.objects.get(pk=scored["version"]["id"])
    DetectorVersion.objects.filter(pk=running.pk).update(status=JobStatus.RUNNING)
    asset_id = ids_of(scored["second"])[0]
    response = api("uploader").delete(f"/api/assets/{asset_id}/")
    assert response.status_code == 409
    assert "is training" in response.json()["detail"]
    assert Asset.objects.filter(pk=asset_id).exists()


def test_site_deletion_needs_the_slug_and_takes_everything(
    api, scored, users, django_capture_on_commit_callbacks
):
    insect = ObjectClass.objects.create(site_id=Site.objects.get(slug="park").pk, name="insect",
                                        colour="#aa0000")  # fmt: skip
    Box.objects.create(asset=Asset.objects.first(), object_class=insect, x=1, y=1, w=4, h=4)
    files = stored_paths(list(Asset.objects.values_list("pk", flat=True)))
    files.append(DetectorVersion.objects.get(pk=scored["version"]["id"]).artefact.name)
    refused = api("admin").delete("/api/sites/park/")
    assert refused.status_code == 400
    assert "confirm=park" in refused.json()["detail"]
    assert api("admin").delete("/api/sites/park/?confirm=parc").status_code == 400
    assert Site.objects.filter(slug="park").exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = api("admin").delete("/api/sites/park/", {"confirm": "park"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["deleted"]["images"] == 39
    assert not Site.objects.filter(slug="park").exists()
    assert not Asset.objects.exists() and not Flag.objects.exists()
    assert not DetectorVersion.objects.exists()
    assert not Box.objects.exists() and not ObjectClass.objects.exists()
    assert not any(default_storage.exists(name) for name in files)
    entry = AuditEntry.objects.get(action="deletion", object_type="site")
    assert entry.site is None and entry.site_slug == "park"
    assert entry.actor == users["admin"] and entry.actor_name == "admin"


def test_reviews_and_member_changes_are_audited(api, scored):
    flag = Flag.objects.filter(status=FlagStatus.PENDING).first()
    api("reviewer").post(f"/api/flags/{flag.pk}/review/", {"decision": "reject"})
    api("reviewer").post(f"/api/flags/{flag.pk}/undo/")
    api("admin").post("/api/sites/park/members/", {"username": "outsider", "role": "viewer"})
    api("admin").post("/api/sites/park/members/", {"username": "outsider", "role": "uploader"})
    api("admin").patch("/api/sites/park/", {"segment_max_gap": 4}, format="json")
    assert api("uploader").delete("/api/sites/park/members/outsider/").status_code == 403
    assert api("admin").delete("/api/sites/park/members/outsider/").status_code == 204
    assert api("admin").delete("/api/sites/park/members/outsider/").status_code == 400
    log = api("admin").get("/api/sites/park/audit/").json()["results"]
    by_action = {e["action"]: e for e in log}
    assert by_action["review_reject"]["actor"] == "reviewer"
    assert by_action["review_undo"]["actor"] == "reviewer"
    assert "added outsider as viewer" in by_action["member_added"]["summary"]
    assert "from viewer to uploader" in by_action["member_changed"]["summary"]
    assert "segment_max_gap" in by_action["settings_changed"]["summary"]
    assert by_action["member_removed"]["summary"] == "removed outsider (uploader)"
    assert by_action["training_succeeded"]["actor"] == ""
    only = api("admin").get("/api/sites/park/audit/?action=review_reject").json()
    assert only["count"] == 1
    assert api("admin").get("/api/sites/park/audit/?action=nope").status_code == 400
