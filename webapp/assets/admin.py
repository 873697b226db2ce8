from django.contrib import admin

from webapp.assets.models import Asset, Upload


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    list_display = ["id", "site", "purpose", "created_by", "created_at"]
    list_filter = ["purpose", "site"]


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):
    list_display = ["id", "site", "filename", "purpose", "width", "height", "label", "created_at"]
    list_filter = ["purpose", "site"]
    search_fields = ["filename", "checksum", "label"]
    raw_id_fields = ["upload"]
