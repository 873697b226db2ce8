from django.contrib import admin

from webapp.objects.models import Box, ObjectClass


@admin.register(ObjectClass)
class ObjectClassAdmin(admin.ModelAdmin):
    list_display = ["id", "site", "name", "colour", "expected", "forbidden"]
    list_filter = ["site", "forbidden"]


@admin.register(Box)
class BoxAdmin(admin.ModelAdmin):
    list_display = ["id", "asset", "object_class", "x", "y", "w", "h"]
    raw_id_fields = ["asset"]
    list_select_related = ["object_class"]
