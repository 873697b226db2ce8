from django.apps import AppConfig


class HooksConfig(AppConfig):
    name = "webapp.hooks"
    label = "hooks"
    verbose_name = "Webhooks for API clients"
