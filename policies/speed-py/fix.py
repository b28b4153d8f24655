"""Fixes as rows: the contract sends a batch as columns, a rule reads it fix by fix.

The host sends one list per column (see ``fixes`` in the WIT contract) because
a list of numbers crosses into the component as a single copy. A number the
device did not report arrives as NaN; a row turns it into ``None`` so that a
rule cannot mistake "not reported" for a value (NaN compares false with
everything, which would silently read as "within limits").
"""

import math
from collections.abc import Iterator
from typing import NamedTuple

from wit_world.imports.types import Fixes


class Fix(NamedTuple):
    """One fix of a batch, with the columns the speed policy reads."""

    at: int
    """When the fix was taken, milliseconds since 1970-01-01T00:00:00Z."""
    lat: float
    """Latitude, WGS 84 degrees."""
    lon: float
    """Longitude, WGS 84 degrees."""
    speed_kmh: float | None
    """Speed reported by the device, km/h; ``None`` when not reported."""
    hdop: float | None
    """Horizontal dilution of precision; ``None`` when not reported."""

    def is_low_accuracy(self, max_hdop: float) -> bool:
        """Whether the receiver reported an hdop above ``max_hdop``.

        A fix that reports no hdop is taken at its word: not poor.
        """
        return self.hdop is not None and self.hdop > max_hdop


def reported(value: float) -> float | None:
    """The value, or ``None`` if the device did not report it (NaN)."""
    return None if math.isnan(value) else value


def rows(fixes: Fixes) -> Iterator[Fix]:
    """The fixes of a batch as rows, in time order."""
    for at, lat, lon, speed_kmh, hdop in zip(fixes.at, fixes.lat, fixes.lon, fixes.speed_kmh, fixes.hdop):
        yield Fix(at, lat, lon, reported(speed_kmh), reported(hdop))
