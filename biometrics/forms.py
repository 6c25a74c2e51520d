"""Forms of the biometrics UI (parsing only; the rules live in services)."""

from __future__ import annotations

from typing import Any

from django import forms

from biometrics.models import Consent, Purpose
from biometrics.services import MAX_ENROLLMENT_IMAGES
from kernel.patterns import EXTERNAL_REF, anchored


class SubjectForm(forms.Form):
    external_ref = forms.RegexField(
        regex=anchored(EXTERNAL_REF),
        max_length=100,
        label="Reference",
        help_text="Your organization's own reference, e.g. an employee number.",
    )
    display_name = forms.CharField(max_length=200, required=False, label="Name")


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    """1 to 5 uploaded files under one field name."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault(
            "widget",
            MultipleFileInput(
                attrs={"accept": "image/jpeg,image/png,image/webp", "multiple": True}
            ),
        )
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        files = data if isinstance(data, list | tuple) else [data] if data else []
        if not 1 <= len(files) <= MAX_ENROLLMENT_IMAGES:
            raise forms.ValidationError(f"Choose 1 to {MAX_ENROLLMENT_IMAGES} photos.")
        return [super(MultipleImageField, self).clean(f, initial) for f in files]


class EnrollForm(forms.Form):
    """The enrollment wizard: the consent step (unless on file) and the photos."""

    consent_given = forms.BooleanField(
        required=False, label="The person has read the text above and consents."
    )
    purposes = forms.MultipleChoiceField(
        choices=Purpose.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        initial=[Purpose.ENROLLMENT, Purpose.VERIFICATION, Purpose.IDENTIFICATION],
        label="Purposes consented to",
    )
    method = forms.ChoiceField(
        choices=Consent.Method.choices,
        initial=Consent.Method.ELECTRONIC,
        label="How consent was given",
    )
    images = MultipleImageField(label="Photos (1 to 5, one face each)")
    allow_duplicates = forms.BooleanField(
        required=False, label="Enroll even if the face matches another subject"
    )

    CONSENT_FIELDS = ("consent_given", "purposes", "method")

    def __init__(self, *args: Any, consent_on_file: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.consent_on_file = consent_on_file
        if consent_on_file:
            # The consent step is not shown then: a field the page does not render would make
            # every submission invalid with an error the person never sees.
            for name in self.CONSENT_FIELDS:
                del self.fields[name]

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if not self.consent_on_file:
            if not cleaned.get("consent_given"):
                self.add_error("consent_given", "Consent is required before any capture.")
            if Purpose.ENROLLMENT not in (cleaned.get("purposes") or []):
                self.add_error("purposes", "Enrollment needs consent to the enrollment purpose.")
        return cleaned


class ImageForm(forms.Form):
    image = forms.FileField(
        label="Photo",
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
    )


class IdentifyForm(ImageForm):
    top_k = forms.IntegerField(min_value=1, max_value=20, initial=5, label="At most")
