"""The countries each region ships to, for the address form's country list.

The store's regions have no countries (the store API leaves Medusa's addresses out), so the
pages carry the list the seeded regions stand for. A region not listed here ships to all of
them."""

from __future__ import annotations

from ..models import Region

# (ISO 3166-1 alpha-2, as Medusa's country_code; name), by region id (example_app/seed.py).
REGION_COUNTRIES = {
    "reg_europe": (
        ("de", "Germany"),
        ("fr", "France"),
        ("it", "Italy"),
        ("es", "Spain"),
        ("nl", "Netherlands"),
        ("dk", "Denmark"),
        ("se", "Sweden"),
    ),
    "reg_north_america": (("us", "United States"), ("ca", "Canada")),
}


def countries_of(region: Region) -> tuple[tuple[str, str], ...]:
    listed = REGION_COUNTRIES.get(region.id)
    if listed is not None:
        return listed
    return tuple(country for countries in REGION_COUNTRIES.values() for country in countries)
