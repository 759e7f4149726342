"""The order form: checks the input's shape (no database access, so async views may call it)."""

from __future__ import annotations

from django import forms


class OrderForm(forms.Form):
    """A product id and a quantity of at least 1; whether they can be ordered is decided later."""

    product = forms.IntegerField(
        error_messages={"required": "Choose a product.", "invalid": "Choose a product."},
    )
    quantity = forms.IntegerField(
        min_value=1,
        error_messages={
            "required": "Enter a quantity.",
            "invalid": "The quantity must be a whole number.",
            "min_value": "The quantity must be at least 1.",
        },
    )

    def first_error(self) -> str:
        """The first error message, in field order (for a one-line message on the page)."""
        for field in self.fields:
            for message in self.errors.get(field, []):
                return str(message)
        return "The order is not valid."
