"""Forms of the object pages: they parse input only; services decide the rules."""

from __future__ import annotations

from django import forms


class ClassForm(forms.Form):
    name = forms.CharField(max_length=100)
    colour = forms.CharField(
        required=False, widget=forms.TextInput(attrs={"type": "color"}), help_text="Box colour."
    )
    expected = forms.IntegerField(
        required=False, min_value=0, help_text="How many every image should show (empty: any)."
    )
    forbidden = forms.BooleanField(required=False, help_text="Seeing it at all flags the image.")


class CocoImportForm(forms.Form):
    file = forms.FileField(
        label="COCO annotations.json",
        help_text="Boxes for images already uploaded, matched by file name; each matched "
        "image's boxes are replaced.",
    )
