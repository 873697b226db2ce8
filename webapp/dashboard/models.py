"""When each member last looked at a site's dashboard, for "what changed since"."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class DashboardVisit(models.Model):
    """One row per user and site: the latest view of its dashboard, and the visit before.

    ``baseline_at`` is when the visit before this one ended: the dashboard shows what
    changed since then. It is None until a second visit (the first visit says so). Views
    close together are one visit (see :data:`webapp.dashboard.services.SAME_VISIT`), so a
    reload does not wipe out what the page has just said.
    """

    site = models.ForeignKey("sites.Site", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    seen_at = models.DateTimeField(help_text="The latest view of the dashboard.")
    baseline_at = models.DateTimeField(
        null=True, blank=True, help_text="The end of the visit before; None on a first visit."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["site", "user"], name="unique_dashboard_visit")
        ]

    def __str__(self) -> str:
        return f"{self.user} saw {self.site} at {self.seen_at:%Y-%m-%d %H:%M}"
