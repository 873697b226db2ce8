"""Server-rendered pages through Django's test client: access rules and what each shows."""

from __future__ import annotations

import html
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.factories import SiteFactory, member, normal_images, odd_images, upload_images
from tests.images import green_texture, jpeg_bytes
from tests.queue_page import queue_rows, selected_id
from webapp.assets.models import Asset, Purpose, Upload
from webapp.detectors.models import DetectorVersion, JobStatus, ScoringChunk, ScoringJob
from webapp.review.models import Flag, FlagStatus
from webapp.review.services import record_scores
from webapp.sites.models import Membership, Site
from webapp.sites.roles import Role

pytestmark = pytest.mark.django_db


def login(client, user):  # type: ignore[no-untyped-def]
    client.force_login(user)
    return client


def make_version(site, **fields) -> DetectorVersion:  # type: ignore[no-untyped-def]
    """A version row as training would leave it, without running any training."""
    values = {
        "number": DetectorVersion.objects.filter(site=site).count() + 1,
        "kind": "histogram_iforest",
        "params": {"bins": [8, 8, 8], "n_estimators": 200},
        "status": JobStatus.SUCCEEDED,
        "progress": 1.0,
        "threshold": 0.5,
        "metrics": {"auroc": 0.91234, "n_fit": 24, "n_holdout": 6, "fpr": {"holdout": 0.0}},
        "manifest": {"fit": [], "holdout": [], "anomalies": []},
    }
    values.update(fields)
    return DetectorVersion.objects.create(site=site, **values)


@pytest.fixture
def flagged(site, users):  # type: ignore[no-untyped-def]
    """An active version and three score images it flagged (scores 0.9, 0.8, 0.7)."""
    version = make_version(site)
    assets = upload_images(site, users["uploader"], Purpose.SCORE, odd_images(3))
    record_scores(version=version, assets=assets, scores=[0.9, 0.8, 0.7])
    Site.objects.filter(pk=site.pk).update(active_version=version)
    return version, assets


# --- access -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", "/sites/park/", "/sites/park/upload/", "/sites/park/review/", "/versions/1/"]
)
def test_pages_require_login(client, site, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={path}"


def test_login_page_signs_in_and_redirects_to_the_site_list(client, users):
    assert client.get("/login/").status_code == 200
    response = client.post(
        "/login/", {"username": "viewer", "password": "correct-horse-battery"}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/"
    assert b"City park" in response.content


def test_unknown_site_and_non_members_get_404(client, users, flagged):
    version, _ = flagged
    login(client, users["viewer"])
    assert client.get("/sites/nowhere/").status_code == 404
    assert client.get("/sites/nowhere/review/").status_code == 404
    login(client, users["outsider"])
    for path in [
        "/sites/park/",
        "/sites/park/upload/",
        "/sites/park/review/",
        f"/versions/{version.pk}/",
    ]:
        assert client.get(path).status_code == 404, path
    assert client.post(f"/versions/{version.pk}/activate/").status_code == 404
    assert client.get("/versions/424242/").status_code == 404


def test_members_without_the_right_get_403(client, users):
    login(client, users["viewer"])
    response = client.get("/sites/park/upload/")
    assert response.status_code == 403
    assert b"does not allow you to upload" in response.content
    login(client, users["reviewer"])
    assert client.post("/sites/park/members/", {"username": "x", "role": "viewer"}).status_code == (
        403
    )


# --- sites --------------------------------------------------------------------------


def test_site_list_shows_only_the_users_sites(client, users):
    other = SiteFactory(slug="factory", name="Factory line")
    member(other, Role.ADMIN, username="someone-else")
    login(client, users["viewer"])
    response = client.get("/")
    assert response.status_code == 200
    assert b"City park" in response.content
    assert b"Factory line" not in response.content
    login(client, users["outsider"])
    response = client.get("/")
    assert b"City park" not in response.content
    assert b"not a member of any site" in response.content


def test_create_site_form_makes_the_creator_admin(client, users):
    login(client, users["outsider"])
    response = client.post("/", {"name": "Quay camera", "slug": "quay", "description": ""})
    assert response.status_code == 302
    assert response["Location"] == "/sites/quay/"
    membership = Membership.objects.get(site__slug="quay")
    assert (membership.user, membership.role) == (users["outsider"], Role.ADMIN)
    page = client.get("/sites/quay/")
    assert page.status_code == 200
    assert b"Quay camera" in page.content
    assert b"Train a new model" in page.content


def test_create_site_form_shows_errors(client, users):
    login(client, users["viewer"])
    duplicate = client.post("/", {"name": "Again", "slug": "park"})
    assert duplicate.status_code == 200
    assert b"already exists" in duplicate.content
    invalid = client.post("/", {"name": "", "slug": "not a slug!"})
    assert invalid.status_code == 200
    assert Site.objects.count() == 1


def test_site_detail_shows_actions_by_role(client, users):
    login(client, users["uploader"])
    page = client.get("/sites/park/").content.decode()
    assert "/sites/park/upload/" in page
    assert "train-form" not in page
    login(client, users["viewer"])
    page = client.get("/sites/park/").content.decode()
    assert "/sites/park/upload/" not in page


def test_train_form_offers_auto_first_and_selected(client, users, site):
    login(client, users["admin"])
    page = client.get("/sites/park/").content.decode()
    assert '<option value="auto" selected>Automatic (recommended)</option>' in page
    chosen = make_version(
        site, kind="auto", metrics={"auto": {"chosen": "deep_knn", "table": [], "reason": "x"}}
    )
    page = client.get("/sites/park/").content.decode()
    assert "auto → deep_knn" in page and chosen.chosen_kind == "deep_knn"


# --- upload -------------------------------------------------------------------------


def test_upload_page_shows_form_to_uploaders(client, users):
    login(client, users["uploader"])
    response = client.get("/sites/park/upload/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'enctype="multipart/form-data"' in page
    assert 'type="file" name="files"' in page
    assert "multiple" in page
    assert 'accept="image/*,.zip,application/zip,video/*,.mp4,.avi,.mov,.mkv,.webm,.csv"' in page
    assert 'name="purpose"' in page
    # No active version yet: training images are what the site needs first.
    assert 'value="train" id="id_purpose_0" required checked' in page


def test_upload_keeps_valid_files_and_lists_rejected_ones(client, users):
    login(client, users["uploader"])
    corrupt = jpeg_bytes(green_texture(7))[:200]
    files = [SimpleUploadedFile(name, data) for name, data in normal_images(2)]
    files.append(SimpleUploadedFile("broken.jpg", corrupt))
    response = client.post("/sites/park/upload/", {"purpose": "train", "files": files})
    assert response.status_code == 200
    page = response.content.decode()
    upload = Upload.objects.get()
    assert Asset.objects.filter(upload=upload).count() == 2
    assert '<strong id="stored-count">2</strong> files stored' in page
    assert '<strong class="error-text" id="rejected-count">1</strong> file rejected' in page
    [rejected] = upload.rejected
    assert rejected["filename"] == "broken.jpg"
    assert rejected["error"]
    assert "broken.jpg" in page
    assert html.escape(rejected["error"]) in page


def test_upload_with_nothing_valid_shows_the_reasons(client, users):
    login(client, users["uploader"])
    response = client.post(
        "/sites/park/upload/",
        {"purpose": "score", "files": [SimpleUploadedFile("notes.txt", b"plain text")]},
    )
    assert response.status_code == 400
    assert b"None of the files could be stored" in response.content
    assert b"notes.txt" in response.content
    assert not Upload.objects.exists()
    empty = client.post("/sites/park/upload/", {"purpose": "score"})
    assert empty.status_code == 400
    assert b"No files were sent" in empty.content


# --- versions -----------------------------------------------------------------------


def _calibrated(n: int, promised: float, kept: bool, more: int, **extra) -> dict:  # type: ignore[type-arg]
    return {
        "calibration": "crossfit",
        "n_calibration": n,
        "n_fit": n,
        "n_holdout": 0,
        "threshold_method": "fpr",
        "target_fpr": 0.01,
        "guaranteed_fpr": promised,
        "expected_false_alarms_per_100": round(100 * promised, 2),
        "target_fpr_kept": kept,
        "more_normals_needed": more,
        **extra,
    }


def test_version_page_states_the_false_alarm_promise_and_warns_a_small_site(client, users, site):
    login(client, users["viewer"])
    small = make_version(site, metrics=_calibrated(30, 1 / 31, False, 69))
    page = client.get(f"/versions/{small.pk}/", follow=True).content.decode()
    assert 'id="version-calibration" class="callout callout-warning"' in page
    assert 'at most <span data-field="false-alarms">3.2</span> per 100 normal photos' in page
    assert "too few normal photos" in page and "Add 69 more normal photos" in page
    # the bound for one site (recorded before it was stored, so worked out from n and
    # promise), stated once
    assert page.count("with 90 % confidence this site gets at most 7.4 per 100") == 1
    assert page.count("7.4 per 100") == 1 and "0.074" not in page
    big = make_version(
        site,
        metrics=_calibrated(
            400, 0.00998, True, 0, n_anomalous=5, recall_found=4, recall_low=0.28, recall_high=0.99
        ),
    )
    page = client.get(f"/versions/{big.pk}/", follow=True).content.decode()
    assert 'id="version-calibration" class="callout"' in page and "too few" not in page
    assert "finds 4 of the 5 confirmed anomalies: between 28 % and 99 %" in page
    old = make_version(site)  # trained before the promise was recorded: no claim made
    assert (
        'id="version-calibration"'
        not in client.get(f"/versions/{old.pk}/", follow=True).content.decode()
    )


def test_version_page_renders_metrics_params_and_manifest(client, users, flagged):
    version, assets = flagged
    DetectorVersion.objects.filter(pk=version.pk).update(
        manifest={"fit": [assets[0].pk, assets[1].pk], "holdout": [assets[2].pk], "anomalies": []}
    )
    login(client, users["viewer"])
    response = client.get(f"/versions/{version.pk}/", follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    assert "histogram_iforest" in page
    assert 'id="metrics-table"' in page
    assert "Photos the final model learnt from." in page  # what "n fit" means, in plain words
    assert "auroc" in page and "0.9123" in page
    assert "fpr.holdout" in page
    assert "n fit" in page
    assert "[8, 8, 8]" in page
    assert "Succeeded" in page
    assert "0.5000" in page
    assert '<dd data-group="fit">2</dd>' in page
    assert '<dd data-group="holdout">1</dd>' in page
    assert f"/api/assets/{assets[0].pk}/thumbnail/" in page
    assert "In use" in page
    assert "activate-form" not in page


def test_version_page_running_and_failed(client, users, site):
    running = make_version(
        site, status=JobStatus.RUNNING, progress=0.4, progress_message="fitting", threshold=None
    )
    failed = make_version(
        site, status=JobStatus.FAILED, error="not enough images: need at least 5", threshold=None
    )
    login(client, users["viewer"])
    page = client.get(f"/versions/{running.pk}/", follow=True).content.decode()
    assert '<progress id="version-progress" max="1" value="0.4">' in page
    assert "40% · fitting" in page
    assert "data-poll-url" in page
    page = client.get(f"/versions/{failed.pk}/", follow=True).content.decode()
    assert "Training failed" in page
    assert "not enough images: need at least 5" in page
    assert "<progress" not in page


def test_activate_button_only_for_admins_on_inactive_succeeded_versions(client, users, flagged):
    active, _ = flagged
    older = make_version(active.site)
    login(client, users["admin"])
    assert "activate-form" in client.get(f"/versions/{older.pk}/", follow=True).content.decode()
    assert (
        "activate-form" not in client.get(f"/versions/{active.pk}/", follow=True).content.decode()
    )
    login(client, users["reviewer"])
    assert "activate-form" not in client.get(f"/versions/{older.pk}/", follow=True).content.decode()


def test_activate_forbidden_for_reviewer_allowed_for_admin(client, users, flagged):
    active, _ = flagged
    older = make_version(active.site)
    login(client, users["reviewer"])
    assert client.post(f"/versions/{older.pk}/activate/").status_code == 403
    assert Site.objects.get(slug="park").active_version_id == active.pk
    login(client, users["admin"])
    response = client.post(f"/versions/{older.pk}/activate/", follow=True)
    assert response.redirect_chain[-1][0] == "/sites/park/"
    assert Site.objects.get(slug="park").active_version_id == older.pk
    assert b"is now in use" in response.content
    assert client.get(f"/versions/{older.pk}/activate/").status_code == 405


# --- review queue -------------------------------------------------------------------


def test_review_queue_lists_pending_flags_highest_score_first(client, users, flagged):
    version, assets = flagged
    login(client, users["reviewer"])
    response = client.get("/sites/park/review/")
    assert response.status_code == 200
    page = response.content.decode()
    flags = list(Flag.objects.order_by("-score__score"))
    rows = queue_rows(page)
    assert [row["id"] for row in rows] == [flag.pk for flag in flags]
    assert {row["asset"] for row in rows} == {asset.pk for asset in assets}
    for row in rows:  # what review.js draws each item from (as the API sends it)
        assert row["filename"] in page
        assert row["thumbnail_url"] == f"/api/assets/{row['asset']}/thumbnail/"
    assert f"/api/assets/{flags[0].score.asset_id}/display/" in page  # the viewer
    assert "0.9000" in page and "0.5000" in page
    assert f"Model {version.number}" in page
    assert '<strong id="pending-count">3</strong>' in page
    assert 'id="confirm-button"' in page
    assert 'id="reject-button"' in page
    assert 'id="undo-button"' in page
    assert 'id="review-note"' in page
    assert 'aria-live="polite"' in page
    assert "js/review.js" in page
    assert "csrftoken" in response.cookies


def test_uploader_and_viewer_see_the_queue_read_only(client, users, flagged):
    for who in ("uploader", "viewer"):
        login(client, users[who])
        response = client.get("/sites/park/review/")
        assert response.status_code == 200
        page = response.content.decode()
        assert "odd-000.png" in page
        assert 'data-can-review="false"' in page
        assert "confirm-button" not in page
        assert "reject-button" not in page
        assert "review-note" not in page
        assert "read-only-notice" in page


def test_review_queue_status_filter(client, users, flagged):
    top = Flag.objects.order_by("-score__score").first()
    Flag.objects.filter(pk=top.pk).update(status=FlagStatus.CONFIRMED, reviewer=users["reviewer"])
    login(client, users["reviewer"])
    pending = client.get("/sites/park/review/").content.decode()
    assert top.pk not in [row["id"] for row in queue_rows(pending)]
    confirmed = client.get("/sites/park/review/?status=confirmed").content.decode()
    assert [row["id"] for row in queue_rows(confirmed)] == [top.pk]
    assert '<option value="confirmed" selected>' in confirmed
    rejected = client.get("/sites/park/review/?status=rejected").content.decode()
    assert "No flags with this status" in rejected
    bogus = client.get("/sites/park/review/?status=bogus")
    assert bogus.status_code == 200
    assert '<option value="pending" selected>' in bogus.content.decode()


def test_empty_queue_says_so(client, users):
    login(client, users["reviewer"])
    page = client.get("/sites/park/review/").content.decode()
    assert "Nothing to review" in page
    assert queue_rows(page) == [] and selected_id(page) is None


def test_static_files_are_found():
    from django.contrib.staticfiles import finders

    for path in ["css/app.css", "js/review.js", "js/app.js", "js/progress.js", "img/favicon.svg"]:
        assert finders.find(path), path


def test_version_page_shows_evaluation_plots_and_extreme_examples(client, users, flagged):
    version, assets = flagged
    DetectorVersion.objects.filter(pk=version.pk).update(
        evaluation={
            "holdout": [[assets[0].pk, 0.31], [assets[1].pk, 0.47]],
            "anomalies": [[assets[2].pk, 0.88]],
        },
        metrics={"tp": 1, "fp": 0, "tn": 2, "fn": 0},
    )
    login(client, users["viewer"])
    page = client.get(f"/versions/{version.pk}/", follow=True).content.decode()
    assert f"/versions/{version.pk}/plots/roc.png" in page
    assert '<td class="num" data-cell="tn">2</td>' in page
    unusual = page.split('id="unusual-normals"')[1].split("</ul>")[0]
    assert unusual.index(f"/api/assets/{assets[1].pk}/") < unusual.index(
        f"/api/assets/{assets[0].pk}/"
    )  # highest-scored normal first
    for name in ("histogram", "roc", "pr"):
        response = client.get(f"/versions/{version.pk}/plots/{name}.png")
        assert response.status_code == 200, name
        assert response["Content-Type"] == "image/png"
        assert response.content.startswith(b"\x89PNG")
    assert client.get(f"/versions/{version.pk}/plots/pie.png").status_code == 404
    login(client, users["outsider"])
    assert client.get(f"/versions/{version.pk}/plots/histogram.png").status_code == 404


@pytest.fixture
def empty_cache():  # type: ignore[no-untyped-def]
    from django.core.cache import cache

    cache.clear()
    yield cache
    cache.clear()  # the markers set below must not reach other tests


def test_version_plots_are_drawn_once_and_kept_until_what_they_show_changes(
    client, users, flagged, empty_cache
):  # type: ignore[no-untyped-def]
    from webapp.detectors import plots
    from webapp.review.services import review_flag

    version, assets = flagged
    evaluation = {"holdout": [[assets[0].pk, 0.12], [assets[1].pk, 0.23]], "anomalies": []}
    evaluation["anomalies"] = [[assets[2].pk, 0.77]]
    DetectorVersion.objects.filter(pk=version.pk).update(evaluation=evaluation)
    version.refresh_from_db()
    login(client, users["viewer"])
    url = f"/versions/{version.pk}/plots/roc.png"
    first = client.get(url)
    assert first.status_code == 200 and first.content.startswith(b"\x89PNG")
    roc = plots.plot(version, "roc")
    assert empty_cache.get(roc.key) == first.content and first["ETag"] == roc.etag

    # what the cache holds is served: a marker in its place comes back, nothing is drawn
    empty_cache.set(roc.key, b"kept")
    assert client.get(url).content == b"kept"
    revalidated = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert revalidated.status_code == 304 and revalidated.content == b""
    # a review feeds the next version; this version's evaluation, so its plots, stay
    flag = Flag.objects.get(score__asset=assets[0])
    review_flag(flag_id=flag.pk, reviewer=users["reviewer"], decision="reject")
    assert client.get(url).content == b"kept"
    # new evaluation scores (a version trained again) are a new plot, drawn anew
    evaluation["anomalies"] = [[assets[2].pk, 0.66]]
    DetectorVersion.objects.filter(pk=version.pk).update(evaluation=evaluation)
    redrawn = client.get(url)
    assert redrawn.content.startswith(b"\x89PNG") and redrawn["ETag"] != first["ETag"]
    # the histogram also shows the threshold: a new threshold is a new histogram
    histogram = client.get(f"/versions/{version.pk}/plots/histogram.png")["ETag"]
    DetectorVersion.objects.filter(pk=version.pk).update(threshold=0.4)
    assert client.get(f"/versions/{version.pk}/plots/histogram.png")["ETag"] != histogram
    assert client.get(url)["ETag"] == redrawn["ETag"]  # the ROC curve has no threshold


def test_curves_need_confirmed_anomalies(client, users, site):
    version = make_version(site, evaluation={"holdout": [[1, 0.2], [2, 0.4]], "anomalies": []})
    login(client, users["viewer"])
    page = client.get(f"/versions/{version.pk}/", follow=True).content.decode()
    assert "plots/histogram.png" in page and "plots/roc.png" not in page
    assert client.get(f"/versions/{version.pk}/plots/roc.png").status_code == 404
    assert client.get(f"/versions/{version.pk}/plots/histogram.png").status_code == 200


def test_asset_page_shows_scores_and_lets_uploaders_label(client, users, flagged):
    version, assets = flagged
    url = f"/assets/{assets[0].pk}/"
    login(client, users["viewer"])
    page = client.get(url).content.decode()
    assert assets[0].filename in page and 'id="scores-table"' in page
    assert "0.9000" in page and f"/versions/{version.pk}/" in page
    assert 'id="label-form"' not in page
    assert client.post(url, {"label": "dandelion"}).status_code == 403

    login(client, users["uploader"])
    response = client.post(url, {"label": "  dandelion "}, follow=True)
    assert response.status_code == 200 and b"Label saved." in response.content
    assets[0].refresh_from_db()
    assert assets[0].label == "dandelion"

    login(client, users["outsider"])
    assert client.get(url).status_code == 404
    assert client.get("/assets/999999/").status_code == 404


def test_review_queue_links_each_flag_to_its_asset_page(client, users, flagged):
    _, assets = flagged
    login(client, users["reviewer"])
    page = client.get("/sites/park/review/").content.decode()
    assert f'href="/assets/{assets[0].pk}/"' in page


def test_review_queue_shows_how_unusual_each_flag_is_against_normal_images(client, users, flagged):
    version, assets = flagged
    DetectorVersion.objects.filter(pk=version.pk).update(
        evaluation={"holdout": [[assets[0].pk, 0.1], [assets[1].pk, 0.2], [0, 0.85]]}
    )
    login(client, users["reviewer"])
    page = client.get("/sites/park/review/").content.decode()
    assert 'id="viewer-normalised">100 %' in page  # 0.9 beats all three
    normalised = [row["normalised_score"] for row in queue_rows(page)]
    assert normalised == pytest.approx([1, 2 / 3, 2 / 3])  # 0.8 and 0.7 beat two of three


def test_review_grid_lists_pending_flags_as_thumbnails(client, users, flagged):
    _, assets = flagged
    top = Flag.objects.order_by("-score__score").first()
    Flag.objects.filter(pk=top.pk).update(status=FlagStatus.CONFIRMED)
    login(client, users["reviewer"])
    assert 'href="/sites/park/review/grid/"' in client.get("/sites/park/").content.decode()
    assert 'href="/sites/park/review/grid/"' in client.get("/sites/park/review/").content.decode()
    page = client.get("/sites/park/review/grid/").content.decode()
    pending = list(Flag.objects.filter(status=FlagStatus.PENDING).order_by("-score__score"))
    positions = [page.index(f'data-flag-id="{flag.pk}"') for flag in pending]
    assert positions == sorted(positions) and f'data-flag-id="{top.pk}"' not in page
    assert f"/api/assets/{assets[1].pk}/thumbnail/" in page
    assert 'role="listbox" aria-multiselectable="true"' in page
    assert "Confirm anomaly" in page and "Reject: it is normal" in page
    assert 'aria-live="polite"' in page and "js/review_grid.js" in page
    login(client, users["viewer"])
    read_only = client.get("/sites/park/review/grid/").content.decode()
    assert "read-only-notice" in read_only and 'id="grid-confirm"' not in read_only
    login(client, users["outsider"])
    assert client.get("/sites/park/review/grid/").status_code == 404


def test_review_queue_opens_the_flag_the_grid_names(client, users, flagged):
    lowest = Flag.objects.order_by("score__score").first()
    login(client, users["reviewer"])
    page = client.get(f"/sites/park/review/?flag={lowest.pk}").content.decode()
    assert selected_id(page) == lowest.pk and lowest.pk in [r["id"] for r in queue_rows(page)]
    assert client.get("/sites/park/review/?flag=abc").status_code == 200


def test_review_queue_says_scoring_runs_instead_of_empty(client, site, users):
    version = make_version(site)
    job = ScoringJob.objects.create(site=site, version=version, total=120)
    ScoringChunk.objects.create(job=job, index=0, asset_ids=list(range(37)), status="succeeded")
    login(client, users["reviewer"])
    page = client.get("/sites/park/review/").content.decode()
    assert "Checking new photos: 37 of 120 (waiting for a worker)" in page
    empty = re.search(r'id="queue-empty"[^>]*>([^<]*)</p>', page).group(1)
    assert empty.startswith("Nothing to review yet: new photos are still being checked.")
    assert 'data-scoring-running="true"' in page


def test_a_failed_csrf_check_explains_itself(users):
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["admin"])
    response = client.post("/sites/park/rescore/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "The form could not be sent" in page
    assert "Reload the page and try again" in page
    assert "Detail: CSRF cookie not set" in page  # Django's reason, for whoever debugs it


def test_pages_send_a_content_security_policy_that_forbids_inline_scripts(client, users):
    client.force_login(users["viewer"])
    for path in ["/", "/sites/park/", "/api/docs/"]:
        response = client.get(path)
        assert response.status_code == 200, path
        policy = response["Content-Security-Policy"]
        assert (
            "script-src 'self'" in policy
            and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
        ), policy
        assert "frame-ancestors 'none'" in policy
        body = response.content.decode()
        # every script is a file of this origin: an inline one would be blocked
        assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body) is None, path


def test_no_template_holds_an_inline_script():
    from pathlib import Path

    templates = Path(__file__).resolve().parents[2] / "templates"
    for template in templates.rglob("*.html"):
        text = template.read_text()
        assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text) is None, template
        assert not re.search(r"\son[a-z]+=\"", text), f"inline event handler in {template}"
