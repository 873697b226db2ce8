from django.apps import AppConfig


class SitesConfig(AppConfig):
    name = "webapp.sites"
    label = "sites"
    verbose_name = "Sites and roles"
