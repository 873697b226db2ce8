"""REST API: a site's dashboard, the same numbers as the page."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.dashboard import selectors, services
from webapp.detectors.models import JobStatus
from webapp.sites.access import access_site
from webapp.sites.roles import Capability


class DashboardPhotoCountsOutput(serializers.Serializer):
    training = serializers.IntegerField(help_text="Photos uploaded as known normal.")
    to_check = serializers.IntegerField(help_text="Photos uploaded to be checked.")
    videos_training = serializers.IntegerField()
    videos_to_check = serializers.IntegerField()
    video_frames = serializers.IntegerField(help_text="Frames kept of the videos.")


class DashboardFlagTotalsOutput(serializers.Serializer):
    pending = serializers.IntegerField()
    confirmed = serializers.IntegerField()
    rejected = serializers.IntegerField()
    superseded = serializers.IntegerField(help_text="Replaced by a newer model's flag.")


class DashboardFlagDayOutput(serializers.Serializer):
    date = serializers.DateField()
    opened = serializers.IntegerField()
    confirmed = serializers.IntegerField()
    rejected = serializers.IntegerField()
    pending_at_end = serializers.IntegerField(help_text="Flags waiting at the end of the day.")


class DashboardFlagsOutput(serializers.Serializer):
    totals = DashboardFlagTotalsOutput()
    days = DashboardFlagDayOutput(
        many=True, help_text="The last 30 days, oldest first; superseded flags left out."
    )
    oldest_pending_since = serializers.DateTimeField(allow_null=True)
    oldest_pending_s = serializers.FloatField(
        allow_null=True, help_text="Age of the oldest pending flag, in seconds."
    )


class DashboardWaitBucketOutput(serializers.Serializer):
    label = serializers.CharField()
    upper_s = serializers.FloatField(allow_null=True, help_text="Upper bound; null: none.")
    count = serializers.IntegerField()


class DashboardWaitingOutput(serializers.Serializer):
    window_days = serializers.IntegerField()
    decided = serializers.IntegerField(help_text="Flags decided in the window.")
    median_s = serializers.FloatField(allow_null=True, help_text="Opened to decided, seconds.")
    p90_s = serializers.FloatField(allow_null=True, help_text="90th percentile, seconds.")
    histogram = DashboardWaitBucketOutput(many=True)


class DashboardReviewerRowOutput(serializers.Serializer):
    reviewer = serializers.CharField(allow_null=True, help_text="null: a deleted account.")
    confirmed = serializers.ListField(child=serializers.IntegerField(), help_text="Per day.")
    rejected = serializers.ListField(child=serializers.IntegerField(), help_text="Per day.")
    total = serializers.IntegerField()


class DashboardReviewersOutput(serializers.Serializer):
    days = serializers.ListField(child=serializers.DateField(), help_text="The last 14 days.")
    reviewers = DashboardReviewerRowOutput(many=True, help_text="Busiest first.")


class DashboardActiveModelOutput(serializers.Serializer):
    id = serializers.IntegerField(help_text="The version id (``/api/versions/{id}/``).")
    number = serializers.IntegerField()
    kind = serializers.CharField()
    chosen_kind = serializers.CharField(allow_null=True, help_text="What ``auto`` chose.")
    description = serializers.CharField(help_text="What the kind does, in plain words.")
    trained_at = serializers.DateTimeField(allow_null=True)
    guaranteed_false_alarm_rate = serializers.FloatField(allow_null=True)
    expected_false_alarms_per_100 = serializers.FloatField(
        allow_null=True, help_text="Per 100 normal photos, at most."
    )
    calibration_message = serializers.CharField()


class DashboardTrainingOutput(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.ChoiceField(choices=JobStatus.choices)
    status_text = serializers.CharField()
    progress = serializers.FloatField()
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class DashboardModelOutput(serializers.Serializer):
    active = DashboardActiveModelOutput(allow_null=True)
    last_trained_at = serializers.DateTimeField(
        allow_null=True, help_text="The last training that succeeded."
    )
    latest_training = DashboardTrainingOutput(allow_null=True)


class DashboardNewPhotosOutput(serializers.Serializer):
    training = serializers.IntegerField()
    to_check = serializers.IntegerField()
    videos = serializers.IntegerField()


class DashboardNewFlagsOutput(serializers.Serializer):
    opened = serializers.IntegerField()
    still_pending = serializers.IntegerField()


class DashboardOthersDecisionsOutput(serializers.Serializer):
    reviewer = serializers.CharField()
    confirmed = serializers.IntegerField()
    rejected = serializers.IntegerField()
    undone = serializers.IntegerField()


class DashboardModelEventOutput(serializers.Serializer):
    event = serializers.CharField(
        help_text="training_succeeded, training_failed or activation (audit log actions)."
    )
    event_text = serializers.CharField()
    number = serializers.IntegerField(allow_null=True)
    version = serializers.IntegerField(allow_null=True)
    by = serializers.CharField(allow_null=True, help_text="null: the system.")
    at = serializers.DateTimeField()


class DashboardChangesOutput(serializers.Serializer):
    first_visit = serializers.BooleanField()
    since = serializers.DateTimeField(allow_null=True, help_text="When your last visit ended.")
    photos = DashboardNewPhotosOutput(allow_null=True)
    flags = DashboardNewFlagsOutput(allow_null=True)
    decisions_by_others = DashboardOthersDecisionsOutput(many=True)
    models = DashboardModelEventOutput(many=True)


class DashboardOutput(serializers.Serializer):
    site = serializers.SlugField()
    generated_at = serializers.DateTimeField()
    time_zone = serializers.CharField(help_text="Days are calendar days in this time zone.")
    photos = DashboardPhotoCountsOutput()
    flags = DashboardFlagsOutput()
    waiting = DashboardWaitingOutput()
    reviewers = DashboardReviewersOutput()
    model = DashboardModelOutput()
    since_last_visit = DashboardChangesOutput()


class DashboardView(APIView):
    @extend_schema(responses=DashboardOutput)
    def get(self, request: Request, slug: str) -> Response:
        """The site's dashboard in numbers (any member): photos, flags per day, waiting
        times, decisions per reviewer, the active model, what changed since your last visit.

        Like the page, a call counts as a visit: the next one (30 minutes or more later)
        reports what changed since this one.
        """
        site = access_site(request.user, slug, Capability.VIEW)
        visit = services.record_dashboard_visit(site=site, user=request.user)
        data = selectors.site_dashboard(
            site, user=request.user, since=visit.baseline_at, now=visit.seen_at
        )
        return Response(DashboardOutput(data).data)
