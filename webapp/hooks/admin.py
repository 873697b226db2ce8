from django.contrib import admin

from webapp.hooks.models import Delivery, DeliveryAttempt, Webhook


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ["id", "site", "url", "is_active", "created_at"]
    list_filter = ["site", "is_active"]
    exclude = ["secret"]  # shown once to the site admin, never in lists


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    readonly_fields = ["number", "started_at", "duration_ms", "status_code", "error"]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "webhook", "event", "status", "attempts", "last_status_code"]
    list_filter = ["status", "event"]
    raw_id_fields = ["webhook"]
    inlines = [DeliveryAttemptInline]
