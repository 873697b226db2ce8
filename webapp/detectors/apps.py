from django.apps import AppConfig


class DetectorsConfig(AppConfig):
    name = "webapp.detectors"
    label = "detectors"
    verbose_name = "Detectors and versions"
