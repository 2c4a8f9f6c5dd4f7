"""Great-circle distances, usable GPS positions and offline reverse geocoding (``core.photos.geocode``)."""

from __future__ import annotations

import math
import socket

import pytest

from core.photos import geocode
from core.photos.geocode import Geocoder, default_geocoder, haversine_m, usable_gps
from tests.helpers import exif_gps_samples


def test_haversine_matches_known_distances():
    # Paris (Notre-Dame) - London (Charing Cross): 343.5 km on the sphere of mean radius
    assert haversine_m(48.8530, 2.3499, 51.5072, -0.1276) == pytest.approx(343_900, rel=0.005)
    # one degree of latitude: pi R / 180 = 111.195 km
    assert haversine_m(10.0, 20.0, 11.0, 20.0) == pytest.approx(math.pi * 6_371_008.8 / 180, rel=1e-9)
    # across the antimeridian the short way round
    assert haversine_m(0.0, 179.9, 0.0, -179.9) == pytest.approx(22_239, rel=0.001)
    assert haversine_m(48.8584, 2.2945, 48.8584, 2.2945) == 0.0


@pytest.mark.parametrize(
    "lat, lon, ok",
    [
        (48.8584, 2.2945, True),
        (0.0, 0.0, False),  # written without a fix
        (0.0, 12.5, True),  # on the equator is a real position
        (90.0, 180.0, True),
        (90.0001, 2.0, False),
        (-91.0, 2.0, False),
        (48.0, 180.5, False),
        (float("nan"), 2.0, False),
        (48.0, float("inf"), False),
        (None, 2.0, False),
        ("48.8", "2.3", True),  # numbers as text are numbers
        ("north", 2.0, False),
    ],
)
def test_usable_gps(lat, lon, ok):
    assert usable_gps(lat, lon) is ok


@pytest.fixture(scope="module")
def geocoder() -> Geocoder:
    return default_geocoder()


def test_reverse_geocoding_names_city_and_country(geocoder):
    eiffel = geocoder.lookup(48.8584, 2.2945)
    assert (eiffel.city, eiffel.country, eiffel.country_code) == ("Paris", "France", "FR")
    # the plain nearest GeoNames place of the tower is Neuilly-sur-Seine; Paris covers the tower
    assert 3.5 < eiffel.distance_km < 5.0
    assert geocoder.lookup(41.8902, 12.4922).city == "Rome"
    assert geocoder.lookup(16.4698, 107.5786).city == "Huế"  # UTF-8 names
    assert geocoder.lookup(-22.9519, -43.2105).country == "Brazil"


def test_positions_without_a_place(geocoder):
    assert geocoder.lookup(30.0, -40.0) is None  # mid-Atlantic: over 100 km from any place
    assert geocoder.lookup(0.0, 0.0) is None
    assert geocoder.lookup(95.0, 2.0) is None
    assert geocoder.lookup_many([(48.8584, 2.2945), (0.0, 0.0), (41.8902, 12.4922)])[1] is None


def test_real_camera_positions_are_placed(shared_data, geocoder):
    """The GPS positions of the real camera files in exif-samples (MANIFEST.csv)."""
    expected = {
        "DSCN0010.jpg": ("Arezzo", "Italy"),
        "DSCN0040.jpg": ("Arezzo", "Italy"),
        "iphone_hdr_YES.jpg": ("Madrid", "Spain"),
        "87_OSError.jpg": ("Florence", "Italy"),
        "67-0_length_string.jpg": ("Gummersbach", "Germany"),
    }
    samples = {p.name: (lat, lon) for p, lat, lon in exif_gps_samples(shared_data)}
    for name, (city, country) in expected.items():
        place = geocoder.lookup(*samples[name])
        assert (place.city, place.country) == (city, country), name
    nokia = geocoder.lookup(*samples["HMD_Nokia_8.3_5G.heif"])  # in the Sierra de Guadarrama: nearest village
    assert nokia.country == "Spain" and nokia.distance_km < 20


def test_loading_never_touches_the_network(monkeypatch):
    """The package's own loader downloads its data when a file is missing; ours only reads the shipped files."""

    def no_network(*args, **kwargs):
        raise AssertionError("network access")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    g = Geocoder()
    assert g.size > 100_000
    assert g.lookup(48.8584, 2.2945).city == "Paris"


def test_missing_data_is_a_clear_error(monkeypatch):
    from importlib import resources

    def missing(name):
        raise ModuleNotFoundError(f"No module named {name!r}")

    monkeypatch.setattr(resources, "files", missing)
    with pytest.raises(geocode.GeocoderUnavailable, match="cannot be loaded"):
        Geocoder()
