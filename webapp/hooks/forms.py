"""Forms of the webhook pages: they parse input only; the services check URL and events."""

from __future__ import annotations

from django import forms

from webapp.hooks.models import WebhookEvent


class WebhookForm(forms.Form):
    url = forms.CharField(
        label="URL",
        max_length=2000,
        widget=forms.URLInput(attrs={"placeholder": "https://example.org/anomaly-hook"}),
        help_text="Each event is POSTed here as JSON, signed with the hook's secret.",
    )
    events = forms.MultipleChoiceField(
        choices=WebhookEvent.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="What to send. “Send test event” works whatever is ticked.",
    )
    description = forms.CharField(
        max_length=200, required=False, help_text="What receives it, for the people here."
    )
    is_active = forms.BooleanField(
        label="Active", required=False, initial=True, help_text="An inactive hook is sent nothing."
    )
