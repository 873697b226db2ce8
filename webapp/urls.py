"""URL map: pages at the root, the REST API under /api/, OpenAPI at /api/schema/."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from webapp.assets import api as assets_api
from webapp.common.errors import api_path_not_found
from webapp.dashboard import api as dashboard_api
from webapp.detectors import api as detectors_api
from webapp.health import api as health_api
from webapp.hooks import api as hooks_api
from webapp.objects import api as objects_api
from webapp.review import api as review_api
from webapp.sites import api as sites_api

#: A failure under /api/ answers JSON, as every other API error does.
handler500 = "webapp.common.errors.server_error"

api_patterns = [
    path("auth/token/", sites_api.TokenView.as_view(), name="api-token"),
    path("sites/", sites_api.SiteListCreateView.as_view(), name="api-sites"),
    path("sites/<slug:slug>/", sites_api.SiteDetailView.as_view(), name="api-site"),
    path("sites/<slug:slug>/members/", sites_api.MembershipView.as_view(), name="api-members"),
    path(
        "sites/<slug:slug>/members/<str:username>/",
        sites_api.MemberDetailView.as_view(),
        name="api-member",
    ),
    path("sites/<slug:slug>/uploads/", assets_api.UploadCreateView.as_view(), name="api-uploads"),
    path("sites/<slug:slug>/audit/", sites_api.AuditLogView.as_view(), name="api-site-audit"),
    path(
        "sites/<slug:slug>/dashboard/",
        dashboard_api.DashboardView.as_view(),
        name="api-site-dashboard",
    ),
    path("sites/<slug:slug>/webhooks/", hooks_api.WebhookListView.as_view(), name="api-webhooks"),
    path(
        "sites/<slug:slug>/webhooks/<int:webhook_id>/",
        hooks_api.WebhookDetailView.as_view(),
        name="api-webhook",
    ),
    path(
        "sites/<slug:slug>/webhooks/<int:webhook_id>/rotate-secret/",
        hooks_api.WebhookRotateSecretView.as_view(),
        name="api-webhook-rotate-secret",
    ),
    path(
        "sites/<slug:slug>/webhooks/<int:webhook_id>/test/",
        hooks_api.WebhookTestView.as_view(),
        name="api-webhook-test",
    ),
    path(
        "sites/<slug:slug>/webhooks/<int:webhook_id>/deliveries/",
        hooks_api.DeliveryListView.as_view(),
        name="api-webhook-deliveries",
    ),
    path("uploads/<int:upload_id>/", assets_api.UploadDetailView.as_view(), name="api-upload"),
    path("sites/<slug:slug>/assets/", assets_api.AssetListView.as_view(), name="api-assets"),
    path(
        "sites/<slug:slug>/versions/",
        detectors_api.VersionListCreateView.as_view(),
        name="api-versions",
    ),
    path("sites/<slug:slug>/rescore/", detectors_api.RescoreView.as_view(), name="api-rescore"),
    path(
        "sites/<slug:slug>/scoring-jobs/",
        detectors_api.ScoringJobListView.as_view(),
        name="api-scoring-jobs",
    ),
    path("sites/<slug:slug>/flags/", review_api.FlagListView.as_view(), name="api-flags"),
    path(
        "sites/<slug:slug>/flags/review/",
        review_api.BulkReviewView.as_view(),
        name="api-flags-review",
    ),
    path("sites/<slug:slug>/flags/undo/", review_api.BulkUndoView.as_view(), name="api-flags-undo"),
    path(
        "sites/<slug:slug>/review-settings/",
        review_api.ReviewSettingsView.as_view(),
        name="api-review-settings",
    ),
    path(
        "sites/<slug:slug>/reviewers/",
        review_api.ReviewerQualityView.as_view(),
        name="api-reviewer-quality",
    ),
    path(
        "sites/<slug:slug>/scoring-status/",
        review_api.ScoringStatusView.as_view(),
        name="api-scoring-status",
    ),
    path("sites/<slug:slug>/classes/", objects_api.ClassListView.as_view(), name="api-classes"),
    path("sites/<slug:slug>/coco/", objects_api.SiteCocoView.as_view(), name="api-site-coco"),
    path("classes/<int:class_id>/", objects_api.ClassDetailView.as_view(), name="api-class"),
    path(
        "assets/<int:asset_id>/boxes/", objects_api.AssetBoxesView.as_view(), name="api-asset-boxes"
    ),
    path(
        "flags/<int:flag_id>/name-object/",
        objects_api.NameObjectView.as_view(),
        name="api-flag-name-object",
    ),
    path("assets/<int:asset_id>/", assets_api.AssetDetailView.as_view(), name="api-asset"),
    path(
        "assets/<int:asset_id>/image/", assets_api.AssetImageView.as_view(), name="api-asset-image"
    ),
    path(
        "assets/<int:asset_id>/display/",
        assets_api.AssetRenditionView.as_view(),
        name="api-asset-display",
    ),
    path(
        "assets/<int:asset_id>/thumbnail/",
        assets_api.AssetThumbnailView.as_view(),
        name="api-asset-thumbnail",
    ),
    path("assets/<int:asset_id>/mask/", assets_api.AssetMaskView.as_view(), name="api-asset-mask"),
    path(
        "assets/<int:asset_id>/preview/",
        assets_api.AssetPreviewView.as_view(),
        name="api-asset-preview",
    ),
    path(
        "assets/<int:asset_id>/frame-labels/",
        assets_api.FrameLabelsView.as_view(),
        name="api-asset-frame-labels",
    ),
    path(
        "assets/<int:asset_id>/frame-scores/",
        assets_api.FrameScoresView.as_view(),
        name="api-asset-frame-scores",
    ),
    path(
        "versions/<int:version_id>/", detectors_api.VersionDetailView.as_view(), name="api-version"
    ),
    path(
        "versions/<int:version_id>/manifest/",
        detectors_api.VersionManifestView.as_view(),
        name="api-version-manifest",
    ),
    path(
        "versions/<int:version_id>/evaluation/",
        detectors_api.VersionEvaluationView.as_view(),
        name="api-version-evaluation",
    ),
    path(
        "versions/<int:version_id>/activate/",
        detectors_api.VersionActivateView.as_view(),
        name="api-version-activate",
    ),
    path(
        "scoring-jobs/<int:job_id>/",
        detectors_api.ScoringJobDetailView.as_view(),
        name="api-scoring-job",
    ),
    path("flags/<int:flag_id>/", review_api.FlagDetailView.as_view(), name="api-flag"),
    path(
        "flags/<int:flag_id>/heatmap/",
        review_api.FlagHeatmapView.as_view(),
        name="api-flag-heatmap",
    ),
    path(
        "flags/<int:flag_id>/review/", review_api.FlagReviewView.as_view(), name="api-flag-review"
    ),
    path("flags/<int:flag_id>/undo/", review_api.FlagUndoView.as_view(), name="api-flag-undo"),
    path("health/", health_api.HealthView.as_view(), name="api-health"),
    path("detector-kinds/", detectors_api.DetectorKindsView.as_view(), name="api-detector-kinds"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # the split view serves its start-up script as a file: no inline script, so the CSP holds
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns = [
    path("api/", include(api_patterns)),
    # ([\s\S], not ".": a path with a newline in it is still under /api/)
    re_path(r"^api/(?P<unknown>[\s\S]*)$", api_path_not_found),
    path("admin/", admin.site.urls),
    path("", include("webapp.pages.urls")),
]
