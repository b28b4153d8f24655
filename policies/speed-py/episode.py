"""A run of consecutive fixes that all meet some condition.

Above a speed, with a poor hdop, jumping from place to place: a rule keeps
the run that is still going on in its state, so that a run spanning several
batches stays one finding. This is the Python counterpart of the Rust SDK's
``Episode``, field for field, so that both report the same peak, place and
duration.
"""

from dataclasses import dataclass

from fix import Fix
from wit_world.imports.geo import Position

MINUTE_MS = 60_000
"""One minute in the contract's time unit (milliseconds)."""


def minutes_between(from_ms: int, to_ms: int) -> float:
    """The whole and fractional minutes between two timestamps.

    The difference is converted to a float before dividing, as the Rust SDK
    does, so both round the same way.
    """
    return float(to_ms - from_ms) / MINUTE_MS


@dataclass
class Episode:
    """A run of consecutive fixes, with the fix where a measured value peaked.

    What the value is (a speed, an hdop) is the rule's business; the run only
    keeps the largest one and where it was seen.
    """

    from_: int
    """Time of the first fix of the run (``from`` is a Python keyword)."""
    to: int
    """Time of the last fix of the run so far."""
    fixes: int
    """How many fixes the run holds."""
    peak: float
    """The largest value seen."""
    peak_at: int
    """Time of the fix with the peak value."""
    peak_lat: float
    peak_lon: float

    @classmethod
    def start(cls, fix: Fix, value: float) -> "Episode":
        """Starts a run at ``fix``, whose measured value is ``value``."""
        return cls(fix.at, fix.at, 1, value, fix.at, fix.lat, fix.lon)

    @classmethod
    def start_at(cls, from_ms: int, fix: Fix, value: float) -> "Episode":
        """Starts a run at an earlier time ``from_ms`` that reaches ``fix``.

        For a jump, the run begins at the fix before it, which the rule has
        already let go of: only its time is kept.
        """
        episode = cls.start(fix, value)
        episode.from_ = from_ms
        return episode

    def extend(self, fix: Fix, value: float) -> None:
        """Adds ``fix`` to the run; ``value`` becomes the peak only if larger.

        On a tie the earlier fix keeps the peak, so the place reported is
        where the value was first reached.
        """
        self.to = fix.at
        self.fixes += 1
        if value > self.peak:
            self.peak = value
            self.peak_at = fix.at
            self.peak_lat = fix.lat
            self.peak_lon = fix.lon

    @classmethod
    def start_or_extend(cls, open_run: "Episode | None", fix: Fix, value: float) -> "Episode":
        """The open run extended by ``fix``, or a new run if none is open."""
        if open_run is None:
            return cls.start(fix, value)
        open_run.extend(fix, value)
        return open_run

    def minutes(self) -> float:
        """Minutes from the first to the last fix of the run."""
        return minutes_between(self.from_, self.to)

    def peak_position(self) -> Position:
        """Where the peak value was measured."""
        return Position(lat=self.peak_lat, lon=self.peak_lon)
