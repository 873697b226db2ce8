"""Reads on scores and flags, and the labels that reviews give to assets."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    When,
)

from webapp.assets.models import Asset, MediaType, Purpose
from webapp.assets.selectors import image_assets
from webapp.common.jobs import JobStatus
from webapp.detectors.models import ScoringChunk, ScoringJob
from webapp.review.models import (
    DECISION_STATUS,
    REVIEWED,
    Decision,
    Flag,
    FlagStatus,
    KnownAnswerCheck,
    Opinion,
    PendingFlagCount,
    Score,
)
from webapp.sites.access import UserLike
from webapp.sites.models import Membership, Site
from webapp.sites.roles import Role


def _latest(flags: QuerySet[Flag]) -> QuerySet[Flag]:
    return flags.filter(status__in=REVIEWED).order_by("-reviewed_at", "-id")


def _covering_segments() -> QuerySet[Flag]:
    """The event-segment flags over the (outer) frame: they label it with their decision."""
    return Flag.objects.filter(
        video=OuterRef("source_video"),
        start_frame__lte=OuterRef("frame_index"),
        end_frame__gte=OuterRef("frame_index"),
    )


def _decided(site: Site) -> tuple[QuerySet[Flag], QuerySet[Asset]]:
    """Ids of the site's assets with a decision: their own flag's, or a covering segment's."""
    own = Flag.objects.filter(site=site, video__isnull=True, status__in=REVIEWED)
    covered = (
        Asset.objects.filter(site=site, media_type=MediaType.FRAME)
        .filter(Exists(_covering_segments().filter(status__in=REVIEWED)))
        .values("pk")
    )
    return own.values("score__asset_id"), covered


def _decided_as(site: Site, status: str) -> QuerySet[Asset]:
    """Ids of the assets whose latest decision is ``status`` (the label a review gave them).

    A frame is labelled by the event segments that cover it, not only by a flag on itself:
    rejecting a segment makes all its frames normal, confirming it makes them anomalies.
    The latest of the two kinds is read by two index lookups each (one subquery with an
    OR of both could use no index: 10 minutes for a site of 100,000 flags), and only for
    the assets that have a decision at all; a tie in time goes to the later flag.
    """
    own_ids, covered_ids = _decided(site)
    own = _latest(Flag.objects.filter(score__asset=OuterRef("pk"), video__isnull=True))
    cover = _latest(_covering_segments())
    later_cover = Q(cover_at__gt=F("own_at")) | Q(cover_at=F("own_at"), cover_id__gt=F("own_id"))
    return (
        Asset.objects.filter(Q(pk__in=own_ids) | Q(pk__in=covered_ids))
        .annotate(
            own_status=Subquery(own.values("status")[:1]),
            own_at=Subquery(own.values("reviewed_at")[:1]),
            own_id=Subquery(own.values("id")[:1]),
            cover_status=Subquery(cover.values("status")[:1]),
            cover_at=Subquery(cover.values("reviewed_at")[:1]),
            cover_id=Subquery(cover.values("id")[:1]),
        )
        .annotate(
            decision=Case(
                When(cover_at__isnull=True, then=F("own_status")),
                When(own_at__isnull=True, then=F("cover_status")),
                When(later_cover, then=F("cover_status")),
                default=F("own_status"),
            )
        )
        .filter(decision=status)
        .values("pk")
    )


def normal_training_assets(site: Site) -> QuerySet[Asset]:
    """Known-normal assets: uploaded for training, or flagged and then rejected by a reviewer.

    Assets whose latest review confirmed an anomaly never count as normal.
    """
    own_ids, covered_ids = _decided(site)
    undecided_train = Q(purpose=Purpose.TRAIN) & ~Q(pk__in=own_ids) & ~Q(pk__in=covered_ids)
    return (
        image_assets(site)
        .filter(undecided_train | Q(pk__in=_decided_as(site, FlagStatus.REJECTED)))
        .order_by("id")
    )


def confirmed_anomalies(site: Site) -> QuerySet[Asset]:
    """Assets a reviewer confirmed as anomalous: used to evaluate and calibrate versions."""
    return image_assets(site).filter(pk__in=_decided_as(site, FlagStatus.CONFIRMED)).order_by("id")


_FLAG_RELATIONS = (
    "score",
    "score__asset",
    "score__version",
    "reviewer",
    "video",
    "video__video",
    "superseded_by",
    "superseded_by__version",
)


#: A version's JSON that a list of flags never reads. Each flag row brings its own copy of
#: its version, and decoding a trained version's manifest and evaluation (thousands of
#: ids and scores) once per flag cost more than the rest of a page together; the one
#: that is read (the evaluation, for normalised scores) is loaded once per version.
_VERSION_JSON = ("params", "manifest", "metrics", "evaluation")


#: What a list of flags joins in its one query. The segment's video and a superseded
#: flag's newer score are null on most flags and come in their own queries (none when
#: no flag of the page has one): four more joins made planning the page's query take
#: ten times as long as running it.
_LIST_JOINED = ("score", "score__asset", "score__version", "reviewer")
#: Of the joined rows, only what a list reads (``webapp.review.rows``, the grid's
#: template): the version's JSON and the asset's and reviewer's other columns are never
#: fetched or decoded for a page of flags.
_SCORE_FIELDS = ("asset", "version", "score", "threshold", "is_flagged", "heatmap", "details")
_LIST_RELATED_FIELDS = (
    *(f"score__{name}" for name in _SCORE_FIELDS),
    *(f"score__asset__{name}" for name in ("filename", "width", "height", "frame_index")),
    *(f"score__version__{name}" for name in ("number", "created_at", "finished_at")),
    "reviewer__username",
)


def _list_prefetched() -> tuple[Prefetch, ...]:
    newer = Score.objects.select_related("version").defer(
        *(f"version__{name}" for name in _VERSION_JSON)
    )
    return (
        Prefetch("video", queryset=Asset.objects.select_related("video")),
        Prefetch("superseded_by", queryset=newer),
    )


def flags_of(
    site: Site, *, status: str | None = None, since_id: int | None = None
) -> QuerySet[Flag]:
    """Flags of a site, highest score first, with what a list needs loaded in one query.

    ``since_id``: only flags opened after that one (ids only grow), what a page drawn
    when it was the latest has not seen yet. The order is the ``flag_queue_order`` index
    (site, status, score, id): a page of one status is an index scan with a LIMIT.
    """
    flags = (
        Flag.objects.filter(site=site)
        .select_related(*_LIST_JOINED)
        .only(*(field.name for field in Flag._meta.concrete_fields), *_LIST_RELATED_FIELDS)
        .prefetch_related(*_list_prefetched())
    )
    if status:
        flags = flags.filter(status=status)
    if since_id is not None:
        flags = flags.filter(pk__gt=since_id)
    return flags.order_by("-score_value", "id")


@dataclass(frozen=True)
class ScoringJobProgress:
    id: int
    status: str
    total: int
    done: int


@dataclass(frozen=True)
class QueueStatus:
    """What the review queue shows while new uploads are scored (see :func:`queue_status`).

    (The pending count is the viewer's own, :func:`pending_for`, not the site's.)
    """

    latest_flag: int | None
    jobs: list[ScoringJobProgress] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return bool(self.jobs)

    @property
    def total(self) -> int:
        return sum(job.total for job in self.jobs)

    @property
    def done(self) -> int:
        return sum(job.done for job in self.jobs)

    @property
    def started(self) -> bool:
        return any(job.status == JobStatus.RUNNING for job in self.jobs)


def queue_status(site: Site) -> QueueStatus:
    """The latest flag id, and the site's unfinished scoring jobs.

    An image counts as done when its chunk has succeeded: a chunk's scores and flags are
    recorded in one transaction, so the flags of every image counted done are there to
    fetch. Three queries at most, whatever the number of jobs and chunks.
    """
    jobs = list(
        ScoringJob.objects.filter(site=site, status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
        .order_by("id")
        .values_list("id", "status", "total")
    )
    # (read after the jobs: a job seen finished has all its flags in what follows)
    latest = Flag.objects.filter(site=site).aggregate(latest=Max("id"))["latest"]
    done: dict[int, int] = {}
    chunks = ScoringChunk.objects.filter(
        job_id__in=[job_id for job_id, _, _ in jobs], status=JobStatus.SUCCEEDED
    ).values_list("job_id", "asset_ids")
    for job_id, asset_ids in chunks:
        done[job_id] = done.get(job_id, 0) + len(asset_ids)
    return QueueStatus(
        latest_flag=latest,
        jobs=[
            ScoringJobProgress(job_id, status, total, min(total, done.get(job_id, 0)))
            for job_id, status, total in jobs
        ],
    )


def flag_with_site(flag_id: int) -> Flag | None:
    return Flag.objects.select_related("site", *_FLAG_RELATIONS).filter(pk=flag_id).first()


#: A site's count is read as the sum of its rows; past this many, reading folds them into one.
COMPACT_AFTER = 32


def pending_counts(site_ids: Iterable[int]) -> dict[int, int]:
    """Number of pending flags per site id (sites without any are absent).

    The sum of each site's :class:`~webapp.review.models.PendingFlagCount` rows; a site
    with many rows has them folded into one afterwards (:func:`_compact`).
    """
    rows = (
        PendingFlagCount.objects.filter(site_id__in=list(site_ids))
        .values("site_id")
        .annotate(total=Sum("pending"), parts=Count("id"))
        .order_by()
    )
    counts = {}
    for row in rows:
        if row["parts"] > COMPACT_AFTER:
            _compact(row["site_id"])
        if row["total"]:
            counts[row["site_id"]] = row["total"]
    return counts


def _compact(site_id: int) -> None:
    """Fold a site's count rows into one: those it deletes, summed (``RETURNING``).

    A row that a transaction adds meanwhile is not seen, so not deleted, and stays; a
    second reader folding at the same time waits for the first, then finds nothing left.
    It locks only these rows, which nothing else ever waits for.
    """
    table = PendingFlagCount._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE site_id = %s RETURNING pending", [site_id])
        total = sum(pending for (pending,) in cursor.fetchall())
        if total:
            PendingFlagCount.objects.create(site_id=site_id, pending=total)


def segment_flags_of(video: Asset) -> QuerySet[Flag]:
    """The event-segment flags of a video, in time order."""
    return (
        Flag.objects.filter(video=video)
        .select_related("score", "score__asset", "score__version", "reviewer")
        .order_by("start_frame", "id")
    )


# --- reviewer quality: how flags look to one reviewer, and how reviewers agree ----------

#: What the Reviewers page and its API say the numbers mean.
QUALITY_EXPLANATION = (
    "Known-answer checks are flags a site admin has already decided, shown to a reviewer "
    "as if they were new. Agreement is the share of a reviewer's answers that match the "
    "admin's decision. Answers to checks never change a flag, the training data or any "
    "count of decisions. With second opinion on, each flag needs two reviewers who agree "
    "(or an admin); agreement with others is the share of the flags a reviewer decided "
    "that another reviewer also decided the same way."
)


def gold_flags(site: Site) -> QuerySet[Flag]:
    """Flags whose truth is known: images confirmed or rejected by an admin of the site.

    Read by the reviewer's role now (a former admin's decisions leave the set). Segments
    are left out: a video's page shows its segments' decisions to every member.
    """
    admins = Membership.objects.filter(site=site, role=Role.ADMIN).values("user_id")
    return Flag.objects.filter(site=site, status__in=REVIEWED, video__isnull=True).filter(
        Q(reviewer__is_staff=True) | Q(reviewer_id__in=admins)
    )


def live_checks(site: Site, user: UserLike) -> QuerySet[KnownAnswerCheck]:
    """``user``'s checks whose flag is still known (an undone decision ends a check)."""
    if not user.is_authenticated:
        return KnownAnswerCheck.objects.none()
    return KnownAnswerCheck.objects.filter(reviewer=user, flag__in=gold_flags(site))


def _own_opinions(site: Site, user: UserLike) -> QuerySet[Opinion]:
    """``user``'s opinions on flags not settled yet: to them, their decision stands."""
    return Opinion.objects.filter(
        reviewer_id=user.pk,
        flag__site=site,
        flag__status__in=[FlagStatus.PENDING, FlagStatus.SUPERSEDED],
    )


def flags_for(
    site: Site, user: UserLike, *, status: str | None = None, since_id: int | None = None
) -> QuerySet[Flag]:
    """:func:`flags_of` as ``user`` sees them (pass the page through :func:`present`).

    A reviewer's open known-answer checks are pending to them, and their answered ones
    carry their answer; a flag they gave an opinion on shows their decision until it
    settles. Everyone else, and every count of the site, sees the flags as they are.
    """
    flags = flags_of(site, since_id=since_id)
    if not status:
        return flags
    if not user.is_authenticated:
        return flags.filter(status=status)
    checks = live_checks(site, user)
    mine = _own_opinions(site, user)
    if status == FlagStatus.PENDING:
        shown = Q(status=status) & ~Q(pk__in=mine.values("flag_id"))
        # The open checks (one at a time, usually none) as ids read first: with no OR on
        # a subquery, the pending page is an index scan of ``flag_queue_order``.
        open_checks = list(checks.filter(answer="").values_list("flag_id", flat=True))
        if open_checks:
            shown |= Q(pk__in=open_checks)
    elif status == FlagStatus.SUPERSEDED:
        shown = Q(status=status) & ~Q(pk__in=mine.values("flag_id"))
    else:
        decision = next(d for d, s in DECISION_STATUS.items() if s == status)
        shown = (
            (Q(status=status) & ~Q(pk__in=checks.values("flag_id")))
            | Q(pk__in=checks.filter(answer=decision).values("flag_id"))
            | Q(pk__in=mine.filter(decision=decision).values("flag_id"))
        )
    return flags.filter(shown)


def pending_for(site: Site, user: UserLike) -> int:
    """How many flags are pending as ``user`` sees them (the number their queue shows).

    The count of :func:`flags_for` with ``status=pending``, from the site's maintained
    count (:class:`~webapp.review.models.PendingFlagCount`) instead of counting the flags:
    less the pending flags the user gave an opinion on, plus their open known-answer
    checks (flags already decided, so never among the pending ones).
    """
    total = pending_counts([site.pk]).get(site.pk, 0)
    if not user.is_authenticated:
        return total
    own = _own_opinions(site, user).filter(flag__status=FlagStatus.PENDING).count()
    checks = live_checks(site, user).filter(answer="").count()
    return total - own + checks


def present(flags: Sequence[Flag], user: UserLike) -> list[Flag]:
    """Give each flag the face ``user`` sees (in memory only), and ``disputed``; 2 queries.

    An open known-answer check looks exactly like a pending flag (no reviewer, note, time
    or newer model); an answered one, and a flag the user gave an opinion on that has not
    settled, show the user's own decision, as a flag they decided alone would. Disputed:
    pending, with reviewers who disagree (shown to everyone: a third reviewer or an admin
    settles it).
    """
    flags = list(flags)
    ids = [flag.pk for flag in flags]
    opinions: dict[int, list[Opinion]] = defaultdict(list)
    checks: dict[int, KnownAnswerCheck] = {}
    if ids:
        for opinion in Opinion.objects.filter(flag_id__in=ids):
            opinions[opinion.flag_id].append(opinion)
        if user.is_authenticated:
            site = Site(pk=flags[0].site_id)  # (only its id is read)
            for check in live_checks(site, user).filter(flag_id__in=ids):
                checks[check.flag_id] = check
    for flag in flags:
        decisions = {opinion.decision for opinion in opinions[flag.pk]}
        flag.disputed = flag.status == FlagStatus.PENDING and len(decisions) > 1  # type: ignore[attr-defined]
        check = checks.get(flag.pk)
        own = next((o for o in opinions[flag.pk] if o.reviewer_id == user.pk), None)
        if check is not None and not check.answer:
            _show(flag, FlagStatus.PENDING, None, None, "")
            flag.superseded_by = None
        elif check is not None:
            _show(
                flag, DECISION_STATUS[Decision(check.answer)], user, check.answered_at, check.note
            )
        elif own is not None and flag.status in (FlagStatus.PENDING, FlagStatus.SUPERSEDED):
            _show(flag, DECISION_STATUS[Decision(own.decision)], user, own.decided_at, own.note)
    return flags


def _show(flag: Flag, status: str, reviewer: Any, at: Any, note: str) -> None:
    flag.status = status
    flag.reviewer = reviewer
    flag.reviewed_at = at
    flag.note = note
    flag.disputed = False  # type: ignore[attr-defined]


def presented_flag(flag_id: int, user: UserLike) -> Flag | None:
    flag = flag_with_site(flag_id)
    return present([flag], user)[0] if flag is not None else None


def disputed_flags(site: Site) -> list[Flag]:
    """Pending flags whose reviewers disagree, oldest first, each with ``opinions`` loaded."""
    confirmed = Opinion.objects.filter(decision=Decision.CONFIRM).values("flag_id")
    rejected = Opinion.objects.filter(decision=Decision.REJECT).values("flag_id")
    return list(
        Flag.objects.filter(site=site, status=FlagStatus.PENDING, pk__in=confirmed)
        .filter(pk__in=rejected)
        .select_related("score__asset", "video")
        .prefetch_related("opinions__reviewer")
        .order_by("created_at", "id")
    )


def _rate(agreed: int, total: int) -> float | None:
    return agreed / total if total else None


def reviewer_quality(site: Site) -> dict[str, Any]:
    """Per reviewer: known-answer checks answered and agreed; agreement with other reviewers.

    A check counts while its flag is still known (see :func:`gold_flags`), against the
    admin's decision as it is now. Second opinions count in pairs: two reviewers who
    decided the same flag are one pair, agreeing or not. Four queries.
    """
    people: dict[str, dict[str, Any]] = {}

    def person(name: str) -> dict[str, Any]:
        return people.setdefault(
            name,
            {
                "reviewer": name,
                "checks_answered": 0,
                "checks_agreed": 0,
                "checks_waiting": 0,
                "double_reviewed": 0,
                "agreed_with_others": 0,
            },
        )

    gold = gold_flags(site)
    rows = KnownAnswerCheck.objects.filter(flag__in=gold).values_list(
        "reviewer__username", "answer", "flag__status"
    )
    for name, answer, truth in rows:
        row = person(name)
        if not answer:
            row["checks_waiting"] += 1
            continue
        row["checks_answered"] += 1
        row["checks_agreed"] += DECISION_STATUS[Decision(answer)] == truth
    by_flag: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for flag_id, name, decision in Opinion.objects.filter(flag__site=site).values_list(
        "flag_id", "reviewer__username", "decision"
    ):
        by_flag[flag_id].append((name, decision))
    pairs: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    double = agreed = 0
    for opinions in by_flag.values():
        if len(opinions) < 2:
            continue
        double += 1
        agreed += len({decision for _, decision in opinions}) == 1
        for i, (a, decision_a) in enumerate(opinions):
            for b, decision_b in opinions[i + 1 :]:
                same = decision_a == decision_b
                for name in (a, b):
                    person(name)["double_reviewed"] += 1
                    person(name)["agreed_with_others"] += same
                pair = pairs[(min(a, b), max(a, b))]
                pair["flags"] += 1
                pair["agreed"] += same
    for row in people.values():
        row["check_agreement"] = _rate(row["checks_agreed"], row["checks_answered"])
        row["agreement_with_others"] = _rate(row["agreed_with_others"], row["double_reviewed"])
    return {
        "known_answer_checks": site.known_answer_checks,
        "known_answer_every": site.known_answer_every,
        "second_opinion": site.second_opinion,
        "known_flags": gold.count(),
        "double_reviewed": double,
        "double_reviewed_agreed": agreed,
        "double_review_agreement": _rate(agreed, double),
        "disputed": len(disputed_flags(site)),
        "reviewers": sorted(people.values(), key=lambda row: row["reviewer"]),
        "pairs": [
            {
                "reviewers": list(names),
                "flags": counts["flags"],
                "agreed": counts["agreed"],
                "agreement": _rate(counts["agreed"], counts["flags"]),
            }
            for names, counts in sorted(pairs.items())
        ],
        "explanation": QUALITY_EXPLANATION,
    }
