"""Authentication, sites and memberships through the REST API."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.conftest import client_for
from tests.factories import SiteFactory, UserFactory, member, normal_images, upload_images
from webapp.detectors.models import DetectorVersion
from webapp.review.models import Flag, Score

pytestmark = pytest.mark.django_db


def test_token_login_and_use(users):
    client = APIClient()
    response = client.post(
        "/api/auth/token/", {"username": "viewer", "password": "correct-horse-battery"}
    )
    assert response.status_code == 200
    token = response.json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/sites/").status_code == 200


def test_token_with_wrong_password_is_a_clear_400(users):
    response = APIClient().post("/api/auth/token/", {"username": "viewer", "password": "nope"})
    assert response.status_code == 400
    assert "Unable to log in" in response.json()["detail"]


def test_no_credentials_is_401_json(db):
    response = APIClient().get("/api/sites/")
    assert response.status_code == 401
    assert response.json()["detail"]


def test_sites_list_shows_only_memberships(api, site):
    SiteFactory(slug="factory-line")
    slugs = [s["slug"] for s in api("viewer").get("/api/sites/").json()["results"]]
    assert slugs == ["park"]
    assert api("outsider").get("/api/sites/").json()["results"] == []


def test_staff_see_every_site(site):
    SiteFactory(slug="factory-line")
    staff = UserFactory(username="boss", is_staff=True)
    results = client_for(staff).get("/api/sites/").json()["results"]
    assert {s["slug"] for s in results} == {"park", "factory-line"}
    assert {s["role"] for s in results} == {"admin"}


def test_create_site_makes_creator_admin(api):
    response = api("outsider").post(
        "/api/sites/", {"slug": "line-3", "name": "Line 3", "description": "bottling"}
    )
    assert response.status_code == 201
    assert response.json()["role"] == "admin"
    detail = api("outsider").get("/api/sites/line-3/")
    assert detail.status_code == 200
    assert detail.json()["name"] == "Line 3"


def test_create_site_with_taken_or_bad_slug(api, site):
    taken = api("admin").post("/api/sites/", {"slug": "park", "name": "Again"})
    assert taken.status_code == 400
    assert "already exists" in taken.json()["detail"]
    bad = api("admin").post("/api/sites/", {"slug": "no spaces!", "name": "x"})
    assert bad.status_code == 400
    assert bad.json()["detail"].startswith("slug:")


def test_unknown_site_is_404_and_non_member_is_404(api, site):
    missing = api("admin").get("/api/sites/nowhere/")
    assert missing.status_code == 404
    assert "nowhere" in missing.json()["detail"]
    assert api("outsider").get("/api/sites/park/").status_code == 404


def test_members_admin_can_grant_roles_viewer_cannot(api, site, users):
    UserFactory(username="botanist")
    ok = api("admin").post("/api/sites/park/members/", {"username": "botanist", "role": "reviewer"})
    assert ok.status_code == 200
    assert ok.json() == {"username": "botanist", "role": "reviewer"}
    denied = api("viewer").post(
        "/api/sites/park/members/", {"username": "botanist", "role": "admin"}
    )
    assert denied.status_code == 403
    assert "viewer" in denied.json()["detail"]
    unknown = api("admin").post("/api/sites/park/members/", {"username": "ghost", "role": "viewer"})
    assert unknown.status_code == 400
    members = api("viewer").get("/api/sites/park/members/").json()
    assert {"username": "botanist", "role": "reviewer"} in members


def test_openapi_schema_and_docs(api):
    schema = api("viewer").get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/sites/{slug}/uploads/" in schema.content
    docs = APIClient().get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()


def test_unknown_api_paths_answer_json_404(api):
    response = api("viewer").get("/api/no-such-thing/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert "No API endpoint at /api/no-such-thing/" in response.json()["detail"]
    slashless = api("viewer").get("/api/sites")
    assert slashless.status_code == 404
    assert "did you mean /api/sites/" in slashless.json()["detail"]
    newline = api("viewer").get("/api/sites/%0Apark/flags/")  # a slug no route takes
    assert newline.status_code == 404
    assert newline["Content-Type"] == "application/json"


def test_ids_of_other_sites_answer_like_missing_ids(api, site):
    """An outsider cannot tell an asset, version or flag of another site from a missing one."""
    other = SiteFactory(slug="garden")
    gardener = member(other, "admin", username="gardener")
    asset = upload_images(other, gardener, "score", normal_images(1))[0]
    version = DetectorVersion.objects.create(site=other, number=1, kind="histogram_iforest")
    score = Score.objects.create(asset=asset, version=version, score=1.0, threshold=0.5)
    flag = Flag.objects.create(site=other, score=score)
    missing = 10**6
    for path, name in [
        ("/api/assets/{}/", "Asset"),
        ("/api/assets/{}/image/", "Asset"),
        ("/api/assets/{}/display/", "Asset"),
        ("/api/assets/{}/thumbnail/", "Asset"),
        ("/api/versions/{}/", "Version"),
        ("/api/flags/{}/", "Flag"),
    ]:
        real_id = {"Asset": asset.pk, "Version": version.pk, "Flag": flag.pk}[name]
        seen = api("admin").get(path.format(real_id))
        absent = api("admin").get(path.format(missing))
        assert seen.status_code == absent.status_code == 404
        assert seen.json()["detail"] == f"{name} {real_id} not found."
        assert absent.json()["detail"] == f"{name} {missing} not found."


def test_site_lists_cost_the_same_queries_for_one_site_or_many(users, api, client):  # type: ignore[no-untyped-def]
    """The role of each listed site comes with the list, not from one query per site."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import SiteFactory
    from webapp.sites.roles import Role

    reviewer = users["reviewer"]
    client.force_login(reviewer)
    api_client = api("reviewer")

    def count() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as page:
            assert client.get("/").status_code == 200
        with CaptureQueriesContext(connection) as listed:
            response = api_client.get("/api/sites/")
            assert response.status_code == 200
        return len(page), len(listed)

    one = count()
    for number in range(5):
        other = SiteFactory(slug=f"site-{number}", name=f"Site {number}")
        other.memberships.create(user=reviewer, role=Role.VIEWER if number % 2 else Role.ADMIN)
    assert count() == one
    roles = {row["slug"]: row["role"] for row in api_client.get("/api/sites/").json()["results"]}
    assert roles == {
        "park": "reviewer",
        **{f"site-{n}": ("viewer" if n % 2 else "admin") for n in range(5)},
    }
