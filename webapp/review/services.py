"""Writes on scores and flags: recording scores, reviewing, undoing."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from detection.report import heatmap_png
from detection.segments import find_segments
from webapp.assets.models import Asset, MediaType
from webapp.common.errors import Conflict
from webapp.detectors.models import DetectorVersion
from webapp.hooks import payloads
from webapp.hooks.models import WebhookEvent
from webapp.hooks.services import emit
from webapp.review import quality, selectors
from webapp.review.models import DECISION_STATUS, REVIEWED, Decision, Flag, FlagStatus, Score
from webapp.sites import audit
from webapp.sites.access import UserLike, role_on
from webapp.sites.models import AuditAction, Site


class AlreadyReviewed(Conflict):
    """The flag has a decision already: undo it first to change it (409).

    ``status``: the flag's status as the reviewer sees it (their own decision, for a
    known-answer check or an opinion; see :func:`webapp.review.selectors.present`).
    """

    def __init__(self, message: str, *, status: str | None = None) -> None:
        super().__init__(message)
        self.status = status


class SupersededByCurrent(Conflict):
    """The flag's image (or frames) is in the queue under a newer model's flag (409)."""

    def __init__(self, message: str, *, current_id: int) -> None:
        super().__init__(message)
        self.current_id = current_id


class NothingToUndo(Conflict):
    """The flag has no decision to take back (409); ``status`` as for AlreadyReviewed."""

    def __init__(self, message: str, *, status: str | None = None) -> None:
        super().__init__(message)
        self.status = status


@transaction.atomic
def record_scores(
    *,
    version: DetectorVersion,
    assets: Sequence[Asset],
    scores: Sequence[float],
    heatmaps: Sequence[np.ndarray] | None = None,
    details: Sequence[dict] | None = None,
) -> int:
    """Upsert each asset's score by ``version`` and keep the review queue in step.

    Rules: a score above the version's threshold opens a flag, unless a reviewer has
    already labelled the asset (its label stands). The flag is pending when ``version`` is
    the site's current model (active, or none is yet), and then pending flags of other
    versions on the same assets become superseded, the new score beside them; a late
    result of an older model opens its flags superseded. A pending flag whose score no
    longer clears the threshold is removed. Heatmaps, when the kind makes them, are kept
    as overlay images for flagged assets only (reviewers look at those). ``details``
    (object kinds, see :func:`webapp.objects.services.describe_detections`) are kept on
    each score; an image whose details give ``reasons`` (site rules broken) is flagged
    whatever its score. Video frames get scores only: their flags are event segments,
    opened by :func:`flag_segments` once every frame of the video is scored. The flags
    new in the queue go to webhooks as one ``flag.created`` event per call (one scoring
    chunk): a 10,000-image upload is 157 deliveries per hook, not 10,000.
    Returns how many are above the threshold (or break a rule).
    """
    threshold = _threshold_of(version)
    active_id = _active_id(version)
    current = active_id in (None, version.pk)
    asset_ids = [asset.pk for asset in assets]
    labelled = set(
        Flag.objects.filter(
            score__asset_id__in=asset_ids, video__isnull=True, status__in=REVIEWED
        ).values_list("score__asset_id", flat=True)
    )
    flagged = 0
    opened: list[int] = []
    for index, (asset, value) in enumerate(zip(assets, scores, strict=True)):
        detail = details[index] if details is not None else {}
        is_flagged = float(value) > threshold or bool(detail.get("reasons"))
        score, _ = Score.objects.update_or_create(
            asset=asset,
            version=version,
            defaults={
                "score": float(value),
                "threshold": threshold,
                "is_flagged": is_flagged,
                "details": detail,
            },
        )
        if is_flagged and heatmaps is not None:
            _store_heatmap(score, heatmaps[index], threshold)
        if is_flagged:
            flagged += 1
        if asset.media_type == MediaType.FRAME:
            continue
        if is_flagged and asset.pk not in labelled:
            flag, created = Flag.objects.get_or_create(
                score=score, defaults={"site_id": asset.site_id, "score_value": score.score}
            )
            if not created and flag.score_value != score.score:  # (the queue's order)
                Flag.objects.filter(pk=flag.pk).update(score_value=score.score)
            if created and current:
                opened.append(flag.pk)
            if current and flag.status == FlagStatus.SUPERSEDED:
                _reinstate(Flag.objects.filter(pk=flag.pk))
            elif not current and flag.status == FlagStatus.PENDING:
                _supersede(Flag.objects.filter(pk=flag.pk), by_version_id=active_id)
        elif not is_flagged:
            Flag.objects.filter(score=score, status=FlagStatus.PENDING).delete()
    if current:
        others = Flag.objects.filter(
            score__asset_id__in=asset_ids, status=FlagStatus.PENDING, video__isnull=True
        ).exclude(score__version=version)
        _supersede(others, by_version_id=version.pk)
    _emit_created(version, opened)
    return flagged


def _emit_created(version: DetectorVersion, flag_ids: list[int]) -> None:
    if flag_ids:
        emit(
            site_id=version.site_id,
            event=WebhookEvent.FLAG_CREATED,
            data=lambda: payloads.flags_data(flag_ids),
        )


@transaction.atomic
def flag_segments(*, version: DetectorVersion, video: Asset) -> list[Flag]:
    """Open one flag per event segment of the video's frame scores by ``version``.

    Segments are runs of kept frames above the version's threshold (``find_segments``
    with the site's minimum length and bridged gap); the flag hangs on the peak frame's
    score and names the first and last frame indices. Rules, as for images: the
    version's own pending segment flags of the video are replaced, other versions' pending
    ones are superseded when ``version`` is current (its flags are superseded otherwise);
    a reviewed segment stands, and no new flag is opened on frames it covers. Returns the
    flags opened (pending or, for a model that is not current, superseded).
    """
    video = Asset.objects.select_for_update().select_related("site").get(pk=video.pk)
    site = video.site
    threshold = _threshold_of(version)
    active_id = _active_id(version)
    current = active_id in (None, version.pk)
    scores = list(
        Score.objects.filter(version=version, asset__source_video=video)
        .select_related("asset")
        .order_by("asset__frame_index")
    )
    segments = find_segments(
        [score.score for score in scores],
        threshold,
        min_length=max(1, site.segment_min_length),
        max_gap=site.segment_max_gap,
    )
    pending = Flag.objects.filter(video=video, status=FlagStatus.PENDING)
    pending.filter(score__version=version).delete()
    if current:
        _supersede(pending, by_version_id=version.pk)
    reviewed = _reviewed_ranges(video)
    opened = []
    created_ids: list[int] = []
    for segment in segments:
        start = scores[segment.start].asset.frame_index
        end = scores[segment.end].asset.frame_index
        if _overlaps(start, end, reviewed):
            continue
        flag, created = Flag.objects.update_or_create(
            score=scores[segment.peak],
            defaults={
                "site": site,
                "video": video,
                "start_frame": start,
                "end_frame": end,
                "score_value": scores[segment.peak].score,
            },
        )
        if created and current:
            created_ids.append(flag.pk)
        if current and flag.status == FlagStatus.SUPERSEDED:
            _reinstate(Flag.objects.filter(pk=flag.pk))
        elif not current and flag.status == FlagStatus.PENDING:
            _supersede(Flag.objects.filter(pk=flag.pk), by_version_id=active_id)
        flag.refresh_from_db()
        opened.append(flag)
    _emit_created(version, created_ids)
    return opened


@transaction.atomic
def hand_queue_to(version: DetectorVersion) -> None:
    """On activation of ``version``: its flags take the queue, the others step aside.

    Pending flags of other versions on images (and videos) that ``version`` has already
    scored become superseded by its score; the version's own superseded flags (a rollback
    to a model that scored before) become pending again unless the image has been labelled
    since, or a reviewed segment covers their frames. Images it has not scored yet keep
    their flags pending until its score arrives (:func:`record_scores`), so reviewers
    are never left with an empty queue while a new model scores.
    """
    site_flags = Flag.objects.filter(site_id=version.site_id)
    scored = Score.objects.filter(version=version)
    _supersede(
        site_flags.filter(status=FlagStatus.PENDING, video__isnull=True)
        .exclude(score__version=version)
        .filter(score__asset__in=scored.values("asset")),
        by_version_id=version.pk,
    )
    _supersede(
        site_flags.filter(status=FlagStatus.PENDING, video__isnull=False)
        .exclude(score__version=version)
        .filter(video__in=scored.values("asset__source_video")),
        by_version_id=version.pk,
    )
    labelled = site_flags.filter(status__in=REVIEWED, video__isnull=True).values("score__asset")
    own = site_flags.filter(score__version=version, status=FlagStatus.SUPERSEDED)
    _reinstate(own.filter(video__isnull=True).exclude(score__asset__in=labelled))
    for flag in own.filter(video__isnull=False):
        if not _overlaps(flag.start_frame, flag.end_frame, _reviewed_ranges(flag.video)):
            _reinstate(Flag.objects.filter(pk=flag.pk))


def _threshold_of(version: DetectorVersion) -> float:
    return float(version.threshold if version.threshold is not None else float("inf"))


def _active_id(version: DetectorVersion) -> int | None:
    return Site.objects.filter(pk=version.site_id).values_list("active_version", flat=True)[0]


def _supersede(flags: QuerySet[Flag], *, by_version_id: int | None) -> int:
    """Mark pending ``flags`` superseded, each with ``by_version_id``'s score of its asset."""
    newer = Score.objects.filter(
        version_id=by_version_id, asset__scores__id=OuterRef("score_id")
    ).values("pk")[:1]
    return flags.filter(status=FlagStatus.PENDING).update(
        status=FlagStatus.SUPERSEDED, superseded_by=Subquery(newer)
    )


def _reinstate(flags: QuerySet[Flag]) -> int:
    return flags.filter(status=FlagStatus.SUPERSEDED).update(
        status=FlagStatus.PENDING, superseded_by=None
    )


def _reviewed_ranges(video: Asset) -> list[tuple[int, int]]:
    return list(
        Flag.objects.filter(video=video, status__in=REVIEWED).values_list(
            "start_frame", "end_frame"
        )
    )


def _overlaps(start: int, end: int, ranges: Sequence[tuple[int, int]]) -> bool:
    return any(start <= done_end and done_start <= end for done_start, done_end in ranges)


def _store_heatmap(score: Score, heatmap: np.ndarray, threshold: float) -> None:
    if score.heatmap:
        score.heatmap.delete(save=False)
    png = heatmap_png(heatmap, scale=2 * threshold if np.isfinite(threshold) else 1.0)
    score.heatmap.save(f"{score.asset_id}.png", ContentFile(png), save=False)
    Score.objects.filter(pk=score.pk).update(heatmap=score.heatmap.name)


def _audit_review(flag: Flag, actor: AbstractBaseUser | None, action: str, verb: str) -> None:
    asset = flag.video if flag.video_id else flag.score.asset
    audit.record(
        site=flag.site,
        actor=actor,
        action=action,
        object_type="flag",
        object_id=flag.pk,
        summary=f"{verb} flag {flag.pk} on {asset.filename} (asset {asset.pk})",
        details={"asset": asset.pk, "filename": asset.filename, "note": flag.note},
    )


def _already(flag_id: int, status: str, reviewer: AbstractBaseUser | None) -> AlreadyReviewed:
    by = f" by {reviewer.get_username()}" if reviewer is not None else ""
    return AlreadyReviewed(
        f"Flag {flag_id} was already reviewed ({status}{by}); undo that review first to change it.",
        status=status,
    )


@transaction.atomic
def review_flag(*, flag_id: int, reviewer: AbstractBaseUser, decision: str, note: str = "") -> Flag:
    """Confirm (anomaly) or reject (normal) a pending or superseded flag.

    409 if it was already reviewed, or if it is superseded by a flag now in the queue
    for the same image or frames (review that one: a decision is made once). A decision
    on a known-answer check is the reviewer's answer to it, and one under second opinion
    an opinion that settles the flag only with another reviewer's (see
    :mod:`webapp.review.quality`). Returns the flag as the reviewer sees it.
    """
    if decision not in Decision.values:
        raise ValidationError(
            {"decision": f"decision must be one of {', '.join(Decision.values)}."}
        )
    flag = (
        Flag.objects.select_for_update()
        .select_related("site", "score__asset")
        .filter(pk=flag_id)
        .first()
    )
    if flag is not None:
        check = quality.check_of(flag, reviewer)
        if check is not None:
            if check.answer:
                raise _already(flag_id, DECISION_STATUS[Decision(check.answer)], reviewer)
            quality.answer_check(check=check, flag=flag, decision=decision, note=note)
            return _as_seen_by(flag_id, reviewer)
    if flag is not None and flag.status == FlagStatus.SUPERSEDED:
        current = _current_flag_for(flag)
        if current is not None:
            raise SupersededByCurrent(
                f"Flag {flag_id} is superseded by flag {current.pk} of a newer model; "
                f"review flag {current.pk} instead.",
                current_id=current.pk,
            )
    if flag is not None and flag.status in (FlagStatus.PENDING, FlagStatus.SUPERSEDED):
        own = quality.opinion_of(flag, reviewer)
        if own is not None:
            raise _already(flag_id, DECISION_STATUS[Decision(own.decision)], reviewer)
        if quality.needs_second_opinion(flag, reviewer):
            settled = quality.give_opinion(
                flag=flag, reviewer=reviewer, decision=decision, note=note
            )
            if settled is None:
                return _as_seen_by(flag_id, reviewer)
            decision = settled
    updated = Flag.objects.filter(
        pk=flag_id, status__in=[FlagStatus.PENDING, FlagStatus.SUPERSEDED]
    ).update(
        status=DECISION_STATUS[Decision(decision)],
        reviewer=reviewer,
        reviewed_at=timezone.now(),
        note=note.strip(),
    )
    flag = Flag.objects.select_related("reviewer", "site", "score__asset", "video").get(pk=flag_id)
    if not updated:
        raise _already(flag_id, flag.status, flag.reviewer)
    confirm = decision == Decision.CONFIRM
    action = AuditAction.REVIEW_CONFIRM if confirm else AuditAction.REVIEW_REJECT
    _audit_review(flag, reviewer, action, "confirmed" if confirm else "rejected")
    emit(
        site_id=flag.site_id,
        event=WebhookEvent.FLAG_REVIEWED,
        data=lambda: {**payloads.one_flag_data(flag_id), "decision": decision},
    )
    return _as_seen_by(flag_id, reviewer)


def _as_seen_by(flag_id: int, user: UserLike | None) -> Flag:
    flag = selectors.flag_with_site(flag_id)
    assert flag is not None  # (locked or just written in this transaction)
    return selectors.present([flag], user)[0] if user is not None else flag


@transaction.atomic
def undo_review(*, flag_id: int, user: AbstractBaseUser | None = None) -> Flag:
    """Put a reviewed flag back in the queue; 409 if it has no review.

    A flag of a model that is no longer current goes back as superseded, not pending.
    A reviewer's undo takes back their own answer to a known-answer check, or their
    opinion (and the label with it when that leaves too few reviewers who agree); the
    known answer itself is only undone by someone who holds no check on it.
    """
    if user is not None and user.is_authenticated:
        flag = (
            Flag.objects.select_for_update()
            .select_related("site", "score__asset")
            .filter(pk=flag_id)
            .first()
        )
        if flag is not None:
            check = quality.check_of(flag, user)
            if check is not None and not check.answer:
                raise NothingToUndo(
                    f"Flag {flag_id} has no review to undo.", status=FlagStatus.PENDING
                )
            if check is not None:
                quality.undo_answer(check=check, flag=flag)
                return _as_seen_by(flag_id, user)
            own = quality.opinion_of(flag, user)
            if own is not None and not quality.withdraw_opinion(opinion=own, flag=flag):
                return _as_seen_by(flag_id, user)
    updated = Flag.objects.filter(pk=flag_id, status__in=REVIEWED).update(
        status=FlagStatus.PENDING, reviewer=None, reviewed_at=None, note=""
    )
    if not updated:
        raise NothingToUndo(f"Flag {flag_id} has no review to undo.")
    flag = Flag.objects.select_related("site", "score__asset", "score__version", "video").get(
        pk=flag_id
    )
    quality.end_open_checks(flag)
    active_id = _active_id(flag.score.version)
    if active_id not in (None, flag.score.version_id):
        _supersede(Flag.objects.filter(pk=flag_id), by_version_id=active_id)
        flag.refresh_from_db()
    _audit_review(flag, user, AuditAction.REVIEW_UNDO, "undid the review of")
    by = user.get_username() if user is not None and user.is_authenticated else None
    emit(
        site_id=flag.site_id,
        event=WebhookEvent.FLAG_REVIEW_UNDONE,
        data=lambda: {**payloads.one_flag_data(flag_id), "undone_by": by},
    )
    return _as_seen_by(flag_id, user)


def _current_flag_for(flag: Flag) -> Flag | None:
    """The pending flag that now stands for a superseded flag's image or frames, if any."""
    pending = Flag.objects.filter(status=FlagStatus.PENDING)
    if flag.video_id:
        return (
            pending.filter(video_id=flag.video_id)
            .filter(start_frame__lte=flag.end_frame, end_frame__gte=flag.start_frame)
            .first()
        )
    return pending.filter(score__asset_id=flag.score.asset_id, video__isnull=True).first()


class BulkOutcome(enum.StrEnum):
    """What a bulk review (or undo) did with one of the ids it was given."""

    REVIEWED = "reviewed"
    UNDONE = "undone"
    ALREADY_REVIEWED = "already_reviewed"
    NOT_REVIEWED = "not_reviewed"
    SUPERSEDED = "superseded"
    UNKNOWN = "unknown"
    NOT_THIS_SITE = "not_this_site"


@dataclass(frozen=True)
class FlagOutcome:
    id: int
    outcome: BulkOutcome
    status: str | None = None
    detail: str = ""
    #: For a superseded flag: the pending flag of a newer model to review instead.
    current: int | None = None


def _flags_of_site(
    site: Site, flag_ids: Iterable[int], user: UserLike
) -> tuple[list[int], list[FlagOutcome]]:
    """``flag_ids`` once each, in order: those of ``site``, and outcomes for the others.

    A flag of a site the user cannot see is reported unknown, as a missing id is, so that
    ids of other sites cannot be probed (see :func:`webapp.sites.access.access_site_object`).
    """
    ids = list(dict.fromkeys(flag_ids))
    found = {flag.pk: flag for flag in Flag.objects.filter(pk__in=ids).select_related("site")}
    own, others = [], []
    for flag_id in ids:
        flag = found.get(flag_id)
        if flag is not None and flag.site_id == site.pk:
            own.append(flag_id)
        elif flag is not None and role_on(user, flag.site) is not None:
            others.append(
                FlagOutcome(
                    flag_id,
                    BulkOutcome.NOT_THIS_SITE,
                    detail=f"Flag {flag_id} is on site '{flag.site.slug}', not '{site.slug}'.",
                )
            )
        else:
            others.append(
                FlagOutcome(flag_id, BulkOutcome.UNKNOWN, detail=f"Flag {flag_id} not found.")
            )
    return own, others


@transaction.atomic
def review_flags(
    *,
    site: Site,
    flag_ids: Sequence[int],
    reviewer: AbstractBaseUser,
    decision: str,
    note: str = "",
) -> list[FlagOutcome]:
    """One decision on many flags of ``site`` (the review grid): what can be, is decided.

    Each flag goes through :func:`review_flag` in its own savepoint, so one that cannot
    be decided (already reviewed, superseded by a newer model's flag, unknown, of another
    site) is reported and leaves the others decided. An id given twice is decided once,
    and a flag decided meanwhile by someone else is reported, not decided again: a
    decision is never counted twice. Outcomes come in the order of ``flag_ids``.
    """
    if decision not in Decision.values:
        raise ValidationError(
            {"decision": f"decision must be one of {', '.join(Decision.values)}."}
        )
    own, others = _flags_of_site(site, flag_ids, reviewer)
    outcomes = {outcome.id: outcome for outcome in others}
    for flag_id in own:
        try:
            flag = review_flag(flag_id=flag_id, reviewer=reviewer, decision=decision, note=note)
        except SupersededByCurrent as exc:
            outcomes[flag_id] = FlagOutcome(
                flag_id,
                BulkOutcome.SUPERSEDED,
                FlagStatus.SUPERSEDED,
                str(exc),
                current=exc.current_id,
            )
        except AlreadyReviewed as exc:
            outcomes[flag_id] = FlagOutcome(
                flag_id, BulkOutcome.ALREADY_REVIEWED, exc.status, str(exc)
            )
        else:
            outcomes[flag_id] = FlagOutcome(flag_id, BulkOutcome.REVIEWED, flag.status)
    return [outcomes[flag_id] for flag_id in dict.fromkeys(flag_ids)]


@transaction.atomic
def undo_reviews(
    *, site: Site, flag_ids: Sequence[int], user: AbstractBaseUser
) -> list[FlagOutcome]:
    """Put reviewed flags of ``site`` back in the queue (the undo of :func:`review_flags`).

    Reported per id like :func:`review_flags`; a flag without a decision is left alone.
    """
    own, others = _flags_of_site(site, flag_ids, user)
    outcomes = {outcome.id: outcome for outcome in others}
    for flag_id in own:
        try:
            flag = undo_review(flag_id=flag_id, user=user)
        except NothingToUndo as exc:
            status = exc.status or (
                Flag.objects.filter(pk=flag_id).values_list("status", flat=True).first()
            )
            outcomes[flag_id] = FlagOutcome(flag_id, BulkOutcome.NOT_REVIEWED, status, str(exc))
        else:
            outcomes[flag_id] = FlagOutcome(flag_id, BulkOutcome.UNDONE, flag.status)
    return [outcomes[flag_id] for flag_id in dict.fromkeys(flag_ids)]
