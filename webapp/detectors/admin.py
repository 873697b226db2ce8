from django.contrib import admin

from webapp.detectors.models import DetectorVersion, ScoringChunk, ScoringJob


@admin.register(DetectorVersion)
class DetectorVersionAdmin(admin.ModelAdmin):
    list_display = ["id", "site", "number", "kind", "status", "threshold", "created_at"]
    list_filter = ["status", "kind", "site"]
    readonly_fields = ["manifest", "metrics", "artefact", "heartbeat_at"]


class ScoringChunkInline(admin.TabularInline):
    model = ScoringChunk
    extra = 0
    readonly_fields = ["index", "asset_ids", "status", "error"]


@admin.register(ScoringJob)
class ScoringJobAdmin(admin.ModelAdmin):
    list_display = ["id", "site", "version", "status", "total", "created_at"]
    list_filter = ["status", "site"]
    inlines = [ScoringChunkInline]
