from django.contrib import admin

from webapp.review.models import Flag, Score


@admin.register(Score)
class ScoreAdmin(admin.ModelAdmin):
    list_display = ["id", "asset", "version", "score", "threshold", "is_flagged"]
    list_filter = ["is_flagged"]
    raw_id_fields = ["asset", "version"]


@admin.register(Flag)
class FlagAdmin(admin.ModelAdmin):
    list_display = ["id", "site", "score", "status", "reviewer", "reviewed_at"]
    list_filter = ["status", "site"]
    raw_id_fields = ["score"]
