from django.contrib import admin

from webapp.sites.models import AuditEntry, Membership, Site


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "active_version", "created_at"]
    search_fields = ["slug", "name"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]
    raw_id_fields = ["active_version"]


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: the log of what was done, including on sites since deleted."""

    list_display = ["created_at", "site_slug", "actor_name", "action", "summary"]
    list_filter = ["action"]
    search_fields = ["site_slug", "actor_name", "summary"]

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def, override]
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def, override]
        return False
