"""Forms of the server-rendered pages: they parse input only; services decide the rules."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from webapp.assets.models import Purpose
from webapp.detectors.models import ThresholdMethod
from webapp.sites.roles import Role


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Show a service's ``ValidationError`` on ``form``: on the field it names, if the form
    has that field, else as an error of the whole form."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            target = field if field in form.fields else None
            for error in errors:
                for message in error.messages:
                    form.add_error(target, message)
    else:
        for message in exc.messages:
            form.add_error(None, message)


class SiteCreateForm(forms.Form):
    name = forms.CharField(max_length=200)
    slug = forms.SlugField(
        max_length=64,
        required=False,
        label="Short name for addresses",
        help_text="Made from the name; change it if you like (letters, digits, - and _).",
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class VideoSettingsForm(forms.Form):
    video_sample_fps = forms.FloatField(
        label="Frames kept per second",
        min_value=0,
        max_value=1000,
        help_text="Of each video uploaded from now on; 0 keeps every frame.",
    )
    segment_min_length = forms.IntegerField(
        label="Shortest event (kept frames)", min_value=1, max_value=10_000
    )
    segment_max_gap = forms.IntegerField(
        label="Gap bridged inside an event (kept frames)", min_value=0, max_value=10_000
    )


class ReviewQualityForm(forms.Form):
    known_answer_checks = forms.BooleanField(
        label="Known-answer checks",
        required=False,
        help_text="Now and then, show reviewers a flag an admin has already decided, as if it "
        "were new, and compare their answer with the admin's.",
    )
    known_answer_every = forms.IntegerField(
        label="One check in about this many flags",
        min_value=2,
        max_value=1000,
        help_text="10 means about one flag in ten a reviewer sees is a check.",
    )
    second_opinion = forms.BooleanField(
        label="Second opinion",
        required=False,
        help_text="Each flag needs two reviewers who agree before it counts; when they "
        "disagree it stays in the queue, marked disputed, for a third reviewer or an admin. "
        "An admin's decision counts at once.",
    )


class LabelForm(forms.Form):
    label = forms.CharField(
        max_length=100,
        required=False,
        help_text="Class of the image (e.g. plant species), for the classifier_openset kind. "
        "Leave empty to remove.",
    )


class TrainForm(forms.Form):
    """Training: the method is the only choice a first-time user meets; the rest is
    "advanced" on the page and defaults to what needs no knowledge of the methods."""

    kind = forms.ChoiceField(choices=[], label="Method")
    params = forms.CharField(
        required=False,
        label="Method settings (JSON object)",
        initial="{}",
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "class": "mono"}),
        help_text="Leave {} for the method's defaults.",
    )
    threshold_method = forms.ChoiceField(
        choices=ThresholdMethod.choices,
        initial=ThresholdMethod.FPR,
        label="How sensitive",
        help_text="The default keeps the false alarms below the rate you set, on photos the "
        "model has never seen.",
    )
    target_fpr = forms.FloatField(
        required=False,
        label="False alarms allowed (share of normal photos)",
        min_value=0.0,
        max_value=0.5,
        widget=forms.NumberInput(attrs={"step": "any"}),
        help_text="0.01 = at most 1 false alarm per 100 normal photos.",
    )
    fixed_threshold = forms.FloatField(
        required=False,
        label="Fixed alarm score",
        widget=forms.NumberInput(attrs={"step": "any"}),
        help_text="Only for the 'fixed' choice: photos scoring above it are flagged.",
    )

    def __init__(self, *args: Any, kinds: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [
            (kind["kind"], kind.get("title") or kind["kind"]) for kind in kinds
        ]
        if any(kind["kind"] == "auto" for kind in kinds):  # needs no knowledge of the kinds
            self.fields["kind"].initial = "auto"
        self.fields["target_fpr"].widget.attrs["placeholder"] = str(settings.DEFAULT_TARGET_FPR)

    def clean_params(self) -> dict[str, Any]:
        text = (self.cleaned_data.get("params") or "").strip() or "{}"
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(
                f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
            ) from None
        if not isinstance(value, dict):
            raise ValidationError('Parameters must be a JSON object, e.g. {"n_estimators": 200}.')
        return value


class MultipleFileInput(forms.FileInput):
    """A file input that accepts several files (``<input type="file" multiple>``)."""

    allow_multiple_selected = True


class UploadForm(forms.Form):
    purpose = forms.ChoiceField(
        choices=[
            (Purpose.TRAIN, "Normal photos: they teach the model what to expect (training)"),
            (Purpose.SCORE, "New photos to check: the model in use flags what looks unusual"),
        ],
        widget=forms.RadioSelect,
        initial=Purpose.SCORE,
    )
    #: Rendered by the form, read by the view (``incoming_files``): whether the files are
    #: acceptable is the upload service's decision, so the field only checks there are some.
    files = forms.Field(
        label="Images, videos or .zip archives",
        error_messages={"required": "No files were sent; attach one or more images or a .zip."},
        widget=MultipleFileInput(
            attrs={
                "multiple": True,
                "accept": "image/*,.zip,application/zip,video/*,.mp4,.avi,.mov,.mkv,.webm,.csv",
            }
        ),
        help_text="Select images (JPEG, PNG, ...), videos (.mp4 .avi .mov .mkv .webm, with "
        "NAME.truth.csv frame labels if known) or .zip archives of them.",
    )
