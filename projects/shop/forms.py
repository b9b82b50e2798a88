"""The shop's forms: ordering, CSV upload, report request."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.core.validators import FileExtensionValidator

from shop.models import SKU_MAX_LENGTH, Customer, Product

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_REPORT_DAYS = 366 * 5


class OrderForm(forms.Form):
    """Who orders; the products come from :data:`OrderLineFormSet`."""

    customer = forms.ModelChoiceField(queryset=Customer.objects.order_by("name", "email"), empty_label="— choose —")


class OrderLineForm(forms.Form):
    """One product of an order, by SKU; blank rows are ignored."""

    sku = forms.CharField(max_length=SKU_MAX_LENGTH, required=False, label="SKU")
    quantity = forms.IntegerField(min_value=1, max_value=1000, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        sku, quantity = (data.get("sku") or "").strip(), data.get("quantity")
        if sku and quantity is None and "quantity" not in self.errors:
            self.add_error("quantity", "How many?")
        if quantity is not None and not sku:
            self.add_error("sku", "Which product?")
        if sku and not Product.objects.filter(sku=sku).exists():
            self.add_error("sku", f"No product with SKU {sku}.")
        data["sku"] = sku
        return data


class BaseOrderLineFormSet(forms.BaseFormSet):
    """Needs at least one product and no SKU twice."""

    def clean(self) -> None:
        if any(self.errors):
            return
        skus = [f.cleaned_data["sku"] for f in self.forms if f.cleaned_data.get("sku")]
        if not skus:
            raise forms.ValidationError("Order at least one product.")
        duplicates = sorted({s for s in skus if skus.count(s) > 1})
        if duplicates:
            raise forms.ValidationError(f"Each product once, please: {', '.join(duplicates)} appears twice.")

    def items(self) -> dict[str, int]:
        """``{sku: quantity}`` of the filled-in rows."""
        return {f.cleaned_data["sku"]: f.cleaned_data["quantity"] for f in self.forms if f.cleaned_data.get("sku")}


OrderLineFormSet = forms.formset_factory(OrderLineForm, formset=BaseOrderLineFormSet, extra=4, max_num=20)


class ProductImportForm(forms.Form):
    """A product CSV: ``sku,name,price,stock``, UTF-8."""

    file = forms.FileField(
        label="Product CSV",
        validators=[FileExtensionValidator(["csv"])],
        help_text="UTF-8, header sku,name,price,stock; at most 20 MB.",
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError("The file is larger than 20 MB.")
        return upload


class SalesReportForm(forms.Form):
    """An inclusive period of days."""

    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start: date | None = data.get("start")
        end: date | None = data.get("end")
        if start and end:
            if start > end:
                self.add_error("end", "The end must not be before the start.")
            elif (end - start).days > MAX_REPORT_DAYS:
                self.add_error("end", "At most five years per report.")
        return data
