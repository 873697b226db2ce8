from django.apps import AppConfig


class AssetsConfig(AppConfig):
    name = "webapp.assets"
    label = "assets"
    verbose_name = "Uploads and assets"

    def ready(self) -> None:
        from webapp.assets import signals  # noqa: F401 - connects the receivers
