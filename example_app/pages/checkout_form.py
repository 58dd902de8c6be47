"""The checkout details form: the shopper's email, shipping address and shipping option,
prefilled with demo values so that a demo (or a test) can just press Continue."""

from __future__ import annotations

from dataclasses import dataclass, field

from werkzeug.exceptions import HTTPException

from ..models import Cart, ShippingOption
from ..store.inputs import email
from .countries import countries_of
from .form_fields import form_text
from .refusals import refusal_of

ADDRESS_FIELDS = ("first_name", "last_name", "address_1", "city", "postal_code", "country_code")
SENT_FIELDS = ("email", *ADDRESS_FIELDS, "option_id")
# The longest a name, street, city or postal code may be; longer is surely not an address.
MAX_FIELD_LENGTH = 100
DEMO_DETAILS = {
    "email": "shopper@example.com",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "address_1": "12 Analytical Street",
    "city": "Berlin",
    "postal_code": "10115",
}
FIELD_LABELS = {
    "first_name": "First name",
    "last_name": "Last name",
    "address_1": "Address",
    "city": "City",
    "postal_code": "Postal code",
    "country_code": "Country",
}


@dataclass
class CheckoutDetails:
    """What the form shows, or what was sent with it: ``values`` by field name (``option_id``
    is the shipping option's id), and ``errors`` by field name, empty when all is well."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def address(self) -> dict[str, str]:
        return {name: self.values[name] for name in ADDRESS_FIELDS}


def initial_details(cart: Cart, saved_address: dict[str, str]) -> CheckoutDetails:
    """The details the cart already has, else the demo's."""
    options = cart.region.shipping_options
    current = cart.shipping_methods[0].shipping_option_id if cart.shipping_methods else None
    values = {
        **DEMO_DETAILS,
        "country_code": countries_of(cart.region)[0][0],
        "option_id": current or (options[0].id if options else ""),
    }
    for name in ADDRESS_FIELDS:
        if name in saved_address:
            values[name] = str(saved_address[name])
    if cart.email:
        values["email"] = cart.email
    return CheckoutDetails(values)


def sent_details(cart: Cart) -> CheckoutDetails:
    """The form as sent, checked: the email by the store's rule, the rest as an address."""
    details = CheckoutDetails({name: form_text(name) for name in SENT_FIELDS})
    values, errors = details.values, details.errors
    if not values["email"]:
        errors["email"] = "Enter your email address."
    else:
        try:
            email({"email": values["email"]})
        except HTTPException as error:
            errors["email"] = refusal_of(error).message
    for name in ADDRESS_FIELDS:
        if not values[name]:
            errors[name] = f"Enter your {FIELD_LABELS[name].lower()}."
        elif len(values[name]) > MAX_FIELD_LENGTH:
            errors[name] = f"{FIELD_LABELS[name]} is longer than {MAX_FIELD_LENGTH} characters."
    shipped_to = dict(countries_of(cart.region))
    if "country_code" not in errors and values["country_code"] not in shipped_to:
        errors["country_code"] = f"{cart.region.name} does not ship to that country."
    if chosen_option(cart, values["option_id"]) is None:
        errors["option_id"] = "Choose a shipping option."
    return details


def chosen_option(cart: Cart, option_id: str) -> ShippingOption | None:
    return next((option for option in cart.region.shipping_options if option.id == option_id), None)
