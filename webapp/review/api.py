"""REST API for the review queue and the review grid."""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.common.pagination import Counted
from webapp.review import quality, selectors, services
from webapp.review.models import Decision, Flag, FlagStatus
from webapp.review.rows import flag_row, flag_rows
from webapp.review.services import BulkOutcome
from webapp.sites import services as site_services
from webapp.sites.access import access_site, access_site_object
from webapp.sites.roles import Capability

#: The largest id a database key holds (a bigger number in a request is a 400, not a 500).
MAX_ID = 2**63 - 1


class DetectedBoxOutput(serializers.Serializer):
    """An object a detector found (object kinds), in image pixels."""

    label = serializers.CharField(help_text="Its class, or 'unknown' when unlike every class.")
    nearest_class = serializers.CharField(help_text="The known class it is most like.")
    x = serializers.FloatField()
    y = serializers.FloatField()
    w = serializers.FloatField()
    h = serializers.FloatField()
    confidence = serializers.FloatField()
    openness = serializers.FloatField(help_text="Higher = less like any known class.")
    unknown = serializers.BooleanField()
    reason = serializers.CharField(help_text="Why this object counts against the image.")
    named_as = serializers.CharField(
        required=False, help_text="The class a reviewer gave it (then a labelled box)."
    )


class SupersededOutput(serializers.Serializer):
    """The newer model's score of a superseded flag's image (or peak frame)."""

    version = serializers.IntegerField()
    version_number = serializers.IntegerField()
    score = serializers.FloatField()
    threshold = serializers.FloatField()
    is_flagged = serializers.BooleanField(help_text="Whether the newer model flags it too.")


# Only documents the rows of :func:`webapp.review.rows.flag_row` (OpenAPI): they are built
# without DRF's per-field machinery, which cost more than the queries of a page of flags;
# ``tests/api/test_flag_rows.py`` checks every kind of flag's row against this schema.
class FlagOutput(serializers.Serializer):
    """A flagged image, or an event segment of a video, and its review."""

    id = serializers.IntegerField()
    asset = serializers.IntegerField()
    filename = serializers.CharField(
        help_text="The image's name; for a segment, the video's and its frames."
    )
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    image_url = serializers.CharField(help_text="The image; for a segment, its peak frame.")
    display_url = serializers.CharField(
        help_text="What pages show: the image (peak frame) as a JPEG a browser decodes."
    )
    thumbnail_url = serializers.CharField()
    heatmap_url = serializers.CharField(
        allow_null=True,
        help_text="Overlay of where the image looks abnormal; null for kinds without heatmaps.",
    )
    score = serializers.FloatField()
    threshold = serializers.FloatField()
    normalised_score = serializers.FloatField(
        allow_null=True,
        help_text="Share (0-1) of the version's held-out normal images that scored lower.",
    )
    version = serializers.IntegerField()
    version_number = serializers.IntegerField()
    status = serializers.ChoiceField(choices=FlagStatus.choices)
    reviewer = serializers.CharField(allow_null=True)
    reviewed_at = serializers.DateTimeField(allow_null=True)
    note = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    kind = serializers.CharField(help_text="image, or segment (an event in a video)")
    video = serializers.IntegerField(allow_null=True, help_text="For a segment: the video asset.")
    start_frame = serializers.IntegerField(allow_null=True)
    end_frame = serializers.IntegerField(allow_null=True)
    peak_frame = serializers.IntegerField(allow_null=True)
    start_s = serializers.FloatField(allow_null=True)
    end_s = serializers.FloatField(
        allow_null=True, help_text="Time just after the last frame of the segment."
    )
    preview_url = serializers.CharField(allow_null=True)
    boxes = DetectedBoxOutput(many=True)
    reasons = serializers.ListField(
        child=serializers.CharField(),
        help_text="Site rules the image breaks (a forbidden class seen, a count off).",
    )
    superseded_by = SupersededOutput(
        allow_null=True,
        help_text="For a superseded flag: the score of the model that took over (or null).",
    )
    disputed = serializers.BooleanField(
        help_text="Pending, and the reviewers who decided it disagree (second opinion): a "
        "third reviewer or an admin settles it."
    )


class FlagListView(generics.ListAPIView):
    """Flags of a site, highest score first (``?status=pending`` for the queue)."""

    serializer_class = FlagOutput

    class ListQuery(serializers.Serializer):
        status = serializers.ChoiceField(
            choices=FlagStatus.choices,
            required=False,
            allow_blank=True,
            error_messages={"invalid_choice": "unknown status '{input}'."},
        )
        since_id = serializers.IntegerField(
            min_value=0,
            max_value=MAX_ID,
            required=False,
            help_text="Only flags opened after this flag (a larger id): what is new since "
            "a page saw it as the latest (``latest_flag`` of scoring-status).",
        )

    @extend_schema(parameters=[ListQuery])
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        """The flags as the caller sees them; a reviewer's queue may take in a check.

        (see :mod:`webapp.review.quality`: a known-answer check is listed as pending.)
        """
        user = self.request.user
        site = access_site(user, self.kwargs["slug"], Capability.VIEW)
        query = self.ListQuery(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        status = query.validated_data.get("status") or None
        since_id = query.validated_data.get("since_id")
        queue = status == FlagStatus.PENDING and since_id is None
        if queue:
            quality.serve_check(site=site, reviewer=user)
        flags = selectors.flags_for(site, user, status=status, since_id=since_id)
        # (the queue's own count, without counting 100,000 pending flags)
        return Counted(flags, selectors.pending_for(site, user)) if queue else flags

    def list(self, request: Request, *args: object, **kwargs: object) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        flags = selectors.present(page if page is not None else [], request.user)
        return self.get_paginated_response(flag_rows(flags))


def accessible_flag(request: Request, flag_id: int, capability: Capability) -> Flag:
    """The flag as the caller sees it (:func:`webapp.review.selectors.present`)."""
    flag = selectors.flag_with_site(flag_id)
    flag = access_site_object(request.user, flag, capability, name=f"Flag {flag_id}")
    return selectors.present([flag], request.user)[0]


class FlagDetailView(APIView):
    @extend_schema(responses=FlagOutput)
    def get(self, request: Request, flag_id: int) -> Response:
        return Response(flag_row(accessible_flag(request, flag_id, Capability.VIEW)))


class FlagHeatmapView(APIView):
    """The flag's heatmap overlay (transparent PNG at the image's size); 404 if none."""

    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request: Request, flag_id: int) -> FileResponse:
        flag = accessible_flag(request, flag_id, Capability.VIEW)
        if not flag.score.heatmap:
            raise NotFound("This flag has no heatmap: its detector kind does not localise.")
        response = FileResponse(flag.score.heatmap.open("rb"), content_type="image/png")
        response["Cache-Control"] = "private, max-age=3600"
        return response


class FlagReviewView(APIView):
    class ReviewInput(serializers.Serializer):
        decision = serializers.ChoiceField(choices=Decision.choices)
        note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)

    @extend_schema(request=ReviewInput, responses=FlagOutput)
    def post(self, request: Request, flag_id: int) -> Response:
        """Confirm (anomaly) or reject (normal) a pending flag; 409 if already reviewed."""
        accessible_flag(request, flag_id, Capability.REVIEW)
        data = self.ReviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        flag = services.review_flag(flag_id=flag_id, reviewer=request.user, **data.validated_data)
        return Response(flag_row(flag))


class FlagUndoView(APIView):
    @extend_schema(request=None, responses=FlagOutput)
    def post(self, request: Request, flag_id: int) -> Response:
        """Put a reviewed flag back in the queue."""
        accessible_flag(request, flag_id, Capability.REVIEW)
        return Response(flag_row(services.undo_review(flag_id=flag_id, user=request.user)))


class ScoringJobProgressOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField(help_text="queued (waiting for a worker) or running")
    total = serializers.IntegerField(help_text="Images (and frames) the job scores.")
    done = serializers.IntegerField(help_text="Of those, how many are scored.")


class ScoringStatusOutput(serializers.Serializer):
    running = serializers.BooleanField(help_text="Whether a scoring job of the site is unfinished.")
    started = serializers.BooleanField(help_text="Whether a worker has begun on one of them.")
    total = serializers.IntegerField(help_text="Images the unfinished jobs score, together.")
    done = serializers.IntegerField(help_text="Of those, how many are scored.")
    pending = serializers.IntegerField(
        help_text="Pending flags of the site, as your queue has them."
    )
    latest_flag = serializers.IntegerField(
        allow_null=True, help_text="The newest flag's id: ``since_id`` for the flags list."
    )
    jobs = ScoringJobProgressOutput(many=True)


class ScoringStatusView(APIView):
    """Whether new uploads of the site are being scored, how far, and the queue's size.

    The review queue polls this while scoring runs, and fetches the flags opened since
    (``GET /api/sites/{slug}/flags/?status=pending&since_id=...``).
    """

    @extend_schema(responses=ScoringStatusOutput)
    def get(self, request: Request, slug: str) -> Response:
        site = access_site(request.user, slug, Capability.VIEW)
        state = selectors.queue_status(site)
        pending = selectors.pending_for(site, request.user)  # (what this user's queue shows)
        return Response(
            ScoringStatusOutput(
                {
                    "running": state.running,
                    "started": state.started,
                    "total": state.total,
                    "done": state.done,
                    "pending": pending,
                    "latest_flag": state.latest_flag,
                    "jobs": state.jobs,
                }
            ).data
        )


class FlagOutcomeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    outcome = serializers.ChoiceField(
        choices=[(value.value, value.value) for value in BulkOutcome],
        help_text="reviewed / undone: done; the others say why this flag was left alone.",
    )
    status = serializers.ChoiceField(
        choices=FlagStatus.choices, allow_null=True, help_text="The flag's status now."
    )
    detail = serializers.CharField(help_text="Why it was left alone (empty when done).")
    current = serializers.IntegerField(
        allow_null=True, help_text="For a superseded flag: the newer model's flag to review."
    )


class BulkReviewView(APIView):
    class BulkReviewInput(serializers.Serializer):
        ids = serializers.ListField(
            child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
            min_length=1,
            max_length=500,
            help_text="Flag ids.",
        )
        decision = serializers.ChoiceField(choices=Decision.choices)
        note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)

    class BulkReviewOutput(serializers.Serializer):
        decision = serializers.ChoiceField(choices=Decision.choices)
        reviewed = serializers.IntegerField(help_text="How many flags this request decided.")
        results = FlagOutcomeOutput(many=True, help_text="One per id given, in that order.")

    @extend_schema(request=BulkReviewInput, responses=BulkReviewOutput)
    def post(self, request: Request, slug: str) -> Response:
        """Confirm or reject many flags of the site at once (the review grid).

        Decides what can be decided and reports each id: ``reviewed``, or left alone
        because ``already_reviewed``, ``superseded`` (review ``current`` instead),
        ``unknown`` or ``not_this_site``. A flag is never decided twice.
        """
        site = access_site(request.user, slug, Capability.REVIEW)
        data = self.BulkReviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        outcomes = services.review_flags(
            site=site,
            flag_ids=data.validated_data["ids"],
            reviewer=request.user,
            decision=data.validated_data["decision"],
            note=data.validated_data["note"],
        )
        return Response(
            self.BulkReviewOutput(
                {
                    "decision": data.validated_data["decision"],
                    "reviewed": sum(o.outcome == BulkOutcome.REVIEWED for o in outcomes),
                    "results": outcomes,
                }
            ).data
        )


class BulkUndoView(APIView):
    class BulkUndoInput(serializers.Serializer):
        ids = serializers.ListField(
            child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
            min_length=1,
            max_length=500,
            help_text="Flag ids.",
        )

    class BulkUndoOutput(serializers.Serializer):
        undone = serializers.IntegerField(help_text="How many flags went back in the queue.")
        results = FlagOutcomeOutput(many=True, help_text="One per id given, in that order.")

    @extend_schema(request=BulkUndoInput, responses=BulkUndoOutput)
    def post(self, request: Request, slug: str) -> Response:
        """Put reviewed flags of the site back in the queue (undo of a bulk review).

        Reports each id: ``undone``, or ``not_reviewed``, ``unknown``, ``not_this_site``.
        """
        site = access_site(request.user, slug, Capability.REVIEW)
        data = self.BulkUndoInput(data=request.data)
        data.is_valid(raise_exception=True)
        outcomes = services.undo_reviews(
            site=site, flag_ids=data.validated_data["ids"], user=request.user
        )
        return Response(
            self.BulkUndoOutput(
                {
                    "undone": sum(o.outcome == BulkOutcome.UNDONE for o in outcomes),
                    "results": outcomes,
                }
            ).data
        )


class ReviewSettingsOutput(serializers.Serializer):
    known_answer_checks = serializers.BooleanField(
        help_text="Flags an admin decided are mixed, unannounced, into reviewers' queues."
    )
    known_answer_every = serializers.IntegerField(
        help_text="About one check in this many flags a reviewer sees."
    )
    second_opinion = serializers.BooleanField(
        help_text="Each flag needs two reviewers who agree (or an admin) before it counts."
    )


class ReviewSettingsView(APIView):
    """Reviewer-quality settings of the site (admins): known-answer checks, second opinion.

    Kept out of the site's own settings, which every member reads: reviewers are not told
    how often they are checked.
    """

    class ReviewSettingsInput(serializers.Serializer):
        known_answer_checks = serializers.BooleanField(required=False)
        known_answer_every = serializers.IntegerField(
            required=False,
            min_value=site_services.KNOWN_ANSWER_EVERY[0],
            max_value=site_services.KNOWN_ANSWER_EVERY[1],
        )
        second_opinion = serializers.BooleanField(required=False)

    @extend_schema(responses=ReviewSettingsOutput)
    def get(self, request: Request, slug: str) -> Response:
        site = access_site(request.user, slug, Capability.MANAGE)
        return Response(ReviewSettingsOutput(site).data)

    @extend_schema(request=ReviewSettingsInput, responses=ReviewSettingsOutput)
    def patch(self, request: Request, slug: str) -> Response:
        """Change some of them; every change is in the audit log."""
        site = access_site(request.user, slug, Capability.MANAGE)
        data = self.ReviewSettingsInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        site = site_services.update_site_settings(
            site=site, actor=request.user, **data.validated_data
        )
        return Response(ReviewSettingsOutput(site).data)


class ReviewerQualityRow(serializers.Serializer):
    reviewer = serializers.CharField()
    checks_answered = serializers.IntegerField(help_text="Known-answer checks they answered.")
    checks_agreed = serializers.IntegerField(help_text="Of those, how many match the admin.")
    checks_waiting = serializers.IntegerField(help_text="Checks in their queue, not answered.")
    check_agreement = serializers.FloatField(
        allow_null=True, help_text="checks_agreed / checks_answered (null before any)."
    )
    double_reviewed = serializers.IntegerField(
        help_text="Decisions they share with another reviewer on the same flag (pairs)."
    )
    agreed_with_others = serializers.IntegerField(help_text="Of those, the same decision.")
    agreement_with_others = serializers.FloatField(
        allow_null=True, help_text="agreed_with_others / double_reviewed (null before any)."
    )


class ReviewerPairRow(serializers.Serializer):
    reviewers = serializers.ListField(child=serializers.CharField())
    flags = serializers.IntegerField(help_text="Flags both of them decided.")
    agreed = serializers.IntegerField()
    agreement = serializers.FloatField(allow_null=True)


class ReviewerQualityOutput(ReviewSettingsOutput):
    known_flags = serializers.IntegerField(
        help_text="Flags an admin decided: the known answers checks are drawn from."
    )
    double_reviewed = serializers.IntegerField(help_text="Flags two or more reviewers decided.")
    double_reviewed_agreed = serializers.IntegerField(help_text="Of those, all the same way.")
    double_review_agreement = serializers.FloatField(allow_null=True)
    disputed = serializers.IntegerField(help_text="Pending flags whose reviewers disagree.")
    reviewers = ReviewerQualityRow(many=True)
    pairs = ReviewerPairRow(many=True)
    explanation = serializers.CharField(help_text="What the numbers mean, in words.")


class ReviewerQualityView(APIView):
    """How each reviewer agrees with known answers and with each other (admins)."""

    @extend_schema(responses=ReviewerQualityOutput)
    def get(self, request: Request, slug: str) -> Response:
        site = access_site(request.user, slug, Capability.MANAGE)
        return Response(ReviewerQualityOutput(selectors.reviewer_quality(site)).data)
