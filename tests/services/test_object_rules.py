"""Site rules on detected objects at scoring time: forbidden classes and expected counts
flag an image whatever its score, with the reason; unknown objects are named as such."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from detection.objects import DetectedBox
from tests.factories import normal_images, odd_images, upload_images
from webapp.assets.models import Purpose
from webapp.detectors.models import DetectorVersion, JobStatus
from webapp.detectors.services import request_training
from webapp.objects.services import create_class, describe_detections
from webapp.review.models import Flag, Score
from webapp.review.services import record_scores

pytestmark = pytest.mark.django_db

THRESHOLD = 0.5


def bottle(x: float = 0, *, confidence: float = 0.9, openness: float = 0.1) -> DetectedBox:
    return DetectedBox("bottle", x, 5, 10, 20, confidence=confidence, openness=openness)


def wasp(x: float = 30) -> DetectedBox:
    return DetectedBox("wasp", x, 30, 8, 8, confidence=0.8, openness=0.2)


@pytest.fixture
def line(site, users):  # type: ignore[no-untyped-def]
    """Three bottles expected per image, wasps forbidden; an object version, four images."""
    create_class(site=site, name="bottle", expected=3)
    create_class(site=site, name="wasp", forbidden=True)
    create_class(site=site, name="cap")  # no rule
    version = DetectorVersion.objects.create(
        site=site, number=1, kind="ssd_openset", status=JobStatus.SUCCEEDED, threshold=THRESHOLD
    )
    assets = upload_images(site, users["uploader"], Purpose.SCORE, odd_images(4))
    return site, version, assets


def score_objects(site, version, assets, detected, scores):  # type: ignore[no-untyped-def]
    details = describe_detections(site=site, threshold=THRESHOLD, boxes=detected)
    record_scores(version=version, assets=assets, scores=scores, details=details)
    return {a.pk: Score.objects.get(asset=a, version=version) for a in assets}


def test_rules_flag_images_below_the_threshold_with_the_reason(line):
    site, version, assets = line
    detected = [
        [bottle(0), bottle(15), bottle(30)],  # as expected: not flagged
        [bottle(0), bottle(15)],  # one bottle missing
        [bottle(0), bottle(15), bottle(30), wasp()],  # a forbidden wasp
        [bottle(0), bottle(15), bottle(30), bottle(45)],  # one too many
    ]
    scores = score_objects(site, version, assets, detected, [0.1, 0.1, 0.2, 0.3])
    fine, missing, with_wasp, too_many = (scores[a.pk] for a in assets)
    assert not fine.is_flagged and fine.details["reasons"] == []
    assert not Flag.objects.filter(score=fine).exists()

    assert missing.is_flagged and missing.score < THRESHOLD
    assert missing.details["reasons"] == ["expected 3 'bottle', saw 2"]
    assert with_wasp.details["reasons"] == ["forbidden class 'wasp' seen (1)"]
    assert too_many.details["reasons"] == ["expected 3 'bottle', saw 4"]
    flagged = set(Flag.objects.values_list("score__asset_id", flat=True))
    assert flagged == {assets[1].pk, assets[2].pk, assets[3].pk}

    wasp_box = with_wasp.details["boxes"][3]
    assert wasp_box["label"] == "wasp" and wasp_box["reason"] == "forbidden class 'wasp'"
    assert not wasp_box["unknown"]


def test_unknown_objects_are_named_and_weak_candidates_dropped(line):
    site, version, assets = line
    detected = [
        [
            bottle(0),
            bottle(15),
            bottle(30),
            bottle(45, openness=0.9, confidence=0.2),  # open: an unknown object
            bottle(60, confidence=0.1),  # weak background candidate: not shown, not counted
        ]
    ]
    scores = score_objects(site, version, assets[:1], detected, [0.9])
    score = scores[assets[0].pk]
    assert score.is_flagged  # by its score: the worst object's openness
    assert score.details["reasons"] == []  # three known bottles, as expected
    labels = [b["label"] for b in score.details["boxes"]]
    assert labels == ["bottle", "bottle", "bottle", "unknown"]
    unknown = score.details["boxes"][3]
    assert unknown["unknown"] and unknown["nearest_class"] == "bottle"
    assert "unlike every known class" in unknown["reason"]


def test_a_flag_raised_by_a_rule_goes_when_the_rule_is_met(line):
    site, version, assets = line
    score_objects(site, version, assets[:1], [[bottle(0)]], [0.1])
    assert Flag.objects.count() == 1
    score_objects(site, version, assets[:1], [[bottle(0), bottle(15), bottle(30)]], [0.1])
    assert Flag.objects.count() == 0


def test_object_kinds_need_labelled_boxes_to_train(site, users):
    upload_images(site, users["uploader"], Purpose.TRAIN, normal_images(6))
    with pytest.raises(ValidationError, match="learns from labelled boxes"):
        request_training(site=site, user=users["admin"], kind="ssd_openset")
