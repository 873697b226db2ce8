"""Flag rows (``webapp.review.rows``) against the published schema (``FlagOutput``).

The API builds its flag JSON without DRF serializers (for speed at 100,000 flags), so the
OpenAPI schema no longer produces it: here every shape of flag the API sends (an image
with a heatmap and objects, a video's event segment, a decided flag, a superseded one)
is fetched through the API and validated against the schema's component, with no field
missing and none added.
"""

from __future__ import annotations

import datetime as dt

import pytest
from drf_spectacular.generators import SchemaGenerator
from openapi_schema_validator import OAS30Validator

from tests.dashboard_data import FlagSpec, bare_assets, make_flags, version_of
from webapp.assets.models import MediaType, Video
from webapp.review.models import Flag, FlagStatus, Score

pytestmark = pytest.mark.django_db

OPENED = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
BOX = {
    "label": "unknown",
    "nearest_class": "bottle",
    "x": 1,
    "y": 2.5,
    "w": 3,
    "h": 4,
    "confidence": 0.25,
    "openness": 1.5,
    "unknown": True,
    "reason": "unlike every known class",
}


@pytest.fixture(scope="module")
def flag_schema() -> dict:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]

    def resolve(node):  # type: ignore[no-untyped-def]
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(components[node["$ref"].rsplit("/", 1)[1]])
            node = {key: resolve(value) for key, value in node.items()}
            if len(node.get("allOf", ())) == 1:  # a nullable nested object: one schema
                (inner,) = node.pop("allOf")
                node = {**inner, **node}
            return node
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    def closed(node):  # type: ignore[no-untyped-def]
        """Every object of the schema refuses fields it does not name."""
        if isinstance(node, dict):
            node = {key: closed(value) for key, value in node.items()}
            if node.get("type") == "object" and "properties" in node:
                node["additionalProperties"] = False
            return node
        if isinstance(node, list):
            return [closed(item) for item in node]
        return node

    return closed(resolve(components["FlagOutput"]))


def _shapes(site, users) -> dict[str, Flag]:  # type: ignore[no-untyped-def]
    first = version_of(site, 1, evaluation={"holdout": [[1, 0.1], [2, 0.7]], "anomalies": []})
    second = version_of(site, 2)
    image, decided, superseded = make_flags(
        site,
        first,
        [
            FlagSpec(opened=OPENED),
            FlagSpec(OPENED, FlagStatus.CONFIRMED, users["reviewer"], OPENED),
            FlagSpec(opened=OPENED),
        ],
    )
    Score.objects.filter(pk=image.score_id).update(
        heatmap="heatmaps/x.png",
        details={"boxes": [BOX, {**BOX, "named_as": "cap"}], "reasons": ["2 bottles, 3 expected"]},
    )
    Flag.objects.filter(pk=decided.pk).update(note="a dent")
    (newer_asset,) = bare_assets(site, 1)
    newer = Score.objects.create(
        asset=newer_asset, version=second, score=0.2, threshold=0.5, is_flagged=False
    )
    Flag.objects.filter(pk=superseded.pk).update(status=FlagStatus.SUPERSEDED, superseded_by=newer)
    (video,) = bare_assets(site, 1, media_type=MediaType.VIDEO)
    Video.objects.create(
        asset=video,
        fps=10.0,
        frame_count=100,
        duration_s=10.0,
        codec="h264",
        sample_fps=0,
        expected_frames=100,
        preview="previews/v.webm",
    )
    (segment,) = make_flags(site, first, [FlagSpec(opened=OPENED)])
    Flag.objects.filter(pk=segment.pk).update(video=video, start_frame=10, end_frame=19)
    return {
        "image with heatmap and objects": image,
        "decided": decided,
        "superseded": superseded,
        "segment": segment,
    }


def test_every_shape_of_flag_matches_the_schema(site, users, api, flag_schema):  # type: ignore[no-untyped-def]
    shapes = _shapes(site, users)
    validator = OAS30Validator(flag_schema)
    client = api("reviewer")
    rows = {}
    for name, flag in shapes.items():
        row = client.get(f"/api/flags/{flag.pk}/").json()
        errors = [error.message for error in validator.iter_errors(row)]
        assert not errors, (name, errors)
        assert set(row) == set(flag_schema["properties"]), name
        rows[name] = row
    listed = client.get(f"/api/sites/{site.slug}/flags/").json()["results"]
    assert {row["id"]: row for row in listed} == {row["id"]: row for row in rows.values()}

    image = rows["image with heatmap and objects"]
    assert image["heatmap_url"] == f"/api/flags/{image['id']}/heatmap/"
    assert [box["x"] for box in image["boxes"]] == [1.0, 1.0]
    assert "named_as" not in image["boxes"][0] and image["boxes"][1]["named_as"] == "cap"
    assert image["reasons"] == ["2 bottles, 3 expected"]
    assert image["normalised_score"] == 1.0  # above both held-out scores
    decided = rows["decided"]
    assert (decided["status"], decided["reviewer"], decided["note"]) == (
        "confirmed",
        users["reviewer"].username,
        "a dent",
    )
    assert decided["reviewed_at"] == "2026-11-01T00:00:00Z"
    assert rows["superseded"]["superseded_by"] == {
        "version": Flag.objects.get(pk=shapes["superseded"].pk).superseded_by.version_id,
        "version_number": 2,
        "score": 0.2,
        "threshold": 0.5,
        "is_flagged": False,
    }
    segment = rows["segment"]
    assert (segment["kind"], segment["start_s"], segment["end_s"]) == ("segment", 1.0, 2.0)
    assert segment["filename"].endswith("frames 10-19")
    assert segment["preview_url"] == f"/api/assets/{segment['video']}/preview/"
