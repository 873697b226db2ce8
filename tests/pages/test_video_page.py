"""The video page and frame pages through Django's test client."""

from __future__ import annotations

import io

import pytest

from tests.vidfiles import clip_bytes
from webapp.assets import video_services
from webapp.assets.services import IncomingFile, create_upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def video(site, users):  # type: ignore[no-untyped-def]
    return create_upload(
        site=site,
        user=users["uploader"],
        purpose="train",
        files=[IncomingFile(name="gate.mp4", handle=io.BytesIO(clip_bytes(20)))],
    ).assets[0]


def test_video_page_while_extracting_then_ready(client, users, video):
    client.force_login(users["viewer"])
    page = client.get(f"/assets/{video.pk}/").content.decode()
    assert 'data-status="extracting"' in page and 'id="no-preview"' in page
    assert 'id="video-player"' not in page
    video_services.extract_video(video_id=video.pk)
    page = client.get(f"/assets/{video.pk}/").content.decode()
    assert 'data-status="ready"' in page and "10 of 10 kept (5 per second)" in page
    assert f'src="/api/assets/{video.pk}/preview/"' in page
    assert 'id="score-curve"' in page and "js/curve.js" in page
    frame = video.frames.order_by("frame_index")[1]
    frame_page = client.get(f"/assets/{frame.pk}/").content.decode()
    assert "Frame 2 (0.20 s) of the video" in frame_page
    assert f'href="/assets/{video.pk}/"' in frame_page


def test_video_page_is_for_members_only(client, users, video):
    client.force_login(users["outsider"])
    assert client.get(f"/assets/{video.pk}/").status_code == 404


def test_asset_list_counts_frames_without_a_query_per_video(
    api, site, users, video, django_assert_max_num_queries
):  # type: ignore[no-untyped-def]
    video_services.extract_video(video_id=video.pk)
    for seed in (1, 2):
        extra = create_upload(
            site=site,
            user=users["uploader"],
            purpose="train",
            files=[IncomingFile(name=f"v{seed}.mp4", handle=io.BytesIO(clip_bytes(8, seed=seed)))],
        ).assets[0]
        video_services.extract_video(video_id=extra.pk)
    client = api("viewer")
    with django_assert_max_num_queries(6):
        body = client.get("/api/sites/park/assets/").json()
    assert sorted(a["video"]["frames_stored"] for a in body["results"]) == [4, 4, 10]


def test_site_admins_set_video_sampling_on_the_site_page(client, site, users):
    client.force_login(users["admin"])
    page = client.get("/sites/park/").content.decode()
    assert 'id="video-settings-form"' in page
    response = client.post(
        "/sites/park/video-settings/",
        {"video_sample_fps": "0", "segment_min_length": "3", "segment_max_gap": "1"},
    )
    assert response.status_code == 302
    site.refresh_from_db()
    assert (site.video_sample_fps, site.segment_min_length, site.segment_max_gap) == (0, 3, 1)
    bad = client.post(
        "/sites/park/video-settings/",
        {"video_sample_fps": "-2", "segment_min_length": "0", "segment_max_gap": "1"},
    )
    assert bad.status_code == 200 and b"greater than or equal to" in bad.content
    client.force_login(users["reviewer"])
    assert 'id="video-settings-form"' not in client.get("/sites/park/").content.decode()
    assert "every frame kept" in client.get("/sites/park/").content.decode()
    assert client.post("/sites/park/video-settings/", {}).status_code == 403
