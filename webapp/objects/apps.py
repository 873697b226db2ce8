from django.apps import AppConfig


class ObjectsConfig(AppConfig):
    name = "webapp.objects"
    label = "objects"
    verbose_name = "Objects: classes and boxes"
