"""Server-rendered pages (all behind login); the REST API lives under /api/."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from webapp.assets import views as asset_views
from webapp.dashboard import views as dashboard_views
from webapp.detectors import views as detector_views
from webapp.hooks import views as hook_views
from webapp.objects import views as object_views
from webapp.review import views as review_views
from webapp.sites import views as site_views

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="registration/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", site_views.site_list, name="site-list"),
    path("sites/<slug:slug>/", site_views.site_detail, name="site-detail"),
    path("sites/<slug:slug>/members/", site_views.add_member, name="site-add-member"),
    path("sites/<slug:slug>/upload/", asset_views.upload, name="site-upload"),
    path("sites/<slug:slug>/delete/", site_views.delete_site, name="site-delete"),
    path("sites/<slug:slug>/audit/", site_views.audit_log, name="site-audit"),
    path("sites/<slug:slug>/dashboard/", dashboard_views.site_dashboard, name="site-dashboard"),
    path("sites/<slug:slug>/webhooks/", hook_views.site_webhooks, name="site-webhooks"),
    path(
        "sites/<slug:slug>/webhooks/<int:webhook_id>/",
        hook_views.webhook_detail,
        name="site-webhook",
    ),
    path(
        "sites/<slug:slug>/webhooks/<int:webhook_id>/test/",
        hook_views.send_test,
        name="site-webhook-test",
    ),
    path(
        "sites/<slug:slug>/webhooks/<int:webhook_id>/rotate-secret/",
        hook_views.rotate_secret,
        name="site-webhook-rotate",
    ),
    path(
        "sites/<slug:slug>/webhooks/<int:webhook_id>/delete/",
        hook_views.delete_webhook,
        name="site-webhook-delete",
    ),
    path("uploads/<int:upload_id>/delete/", asset_views.delete_upload, name="upload-delete"),
    path("assets/<int:asset_id>/delete/", asset_views.delete_asset, name="asset-delete"),
    path("versions/<int:version_id>/delete/", detector_views.delete_version, name="version-delete"),
    path(
        "sites/<slug:slug>/video-settings/",
        site_views.video_settings,
        name="site-video-settings",
    ),
    path("sites/<slug:slug>/train/", detector_views.train_version, name="site-train"),
    path("sites/<slug:slug>/rescore/", detector_views.rescore_site, name="site-rescore"),
    path("sites/<slug:slug>/review/", review_views.review_queue, name="site-review"),
    path("sites/<slug:slug>/review/grid/", review_views.review_grid, name="site-review-grid"),
    path("sites/<slug:slug>/reviewers/", review_views.reviewers, name="site-reviewers"),
    path("assets/<int:asset_id>/", asset_views.asset_detail, name="asset-detail"),
    path("assets/<int:asset_id>/label/", object_views.label_asset, name="asset-label"),
    path("sites/<slug:slug>/classes/", object_views.site_classes, name="site-classes"),
    path(
        "sites/<slug:slug>/classes/<int:class_id>/",
        object_views.edit_class,
        name="site-class-edit",
    ),
    path("sites/<slug:slug>/coco/import/", object_views.import_coco, name="site-coco-import"),
    path("versions/<int:version_id>/", detector_views.version_detail, name="version-detail"),
    path(
        "sites/<slug:slug>/models/<int:number>/",
        detector_views.model_detail,
        name="model-detail",
    ),
    path(
        "versions/<int:version_id>/plots/<str:name>.png",
        detector_views.version_plot,
        name="version-plot",
    ),
    path(
        "versions/<int:version_id>/activate/",
        detector_views.activate_version,
        name="version-activate",
    ),
]
