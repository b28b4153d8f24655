"""Speed sanity: the Escort policy ``speed``, written in Python.

It raises three kinds of finding:

- ``speed.implausible`` (violation): two consecutive fixes imply a speed no
  truck reaches over a distance no receiver jitters. Spoofing, jamming or a
  seal moved to another vehicle look like this. Consecutive jumps (out and
  back) are one finding. Fixes with a poor hdop are exempt.
- ``speed.excessive`` (warning): the reported speed stays above a limit.
- ``telemetry.quality`` (info, warning when long): a run of poor fixes.

Each is one finding per episode: final once a fix ends it, open (as it
stands, reported again by every call) while it goes on.

This is the same policy as the Rust one in ``policies/speed``, and gives the
same findings to the byte: same rules, same order, and numbers printed as
Rust prints them. The component imports nothing but the host's geodesy
(``escort:policy/geo``): it reads no clock, no files and no randomness, so the
same fixes always give the same findings.

componentize-py calls the class ``Policy`` of this module for the exported
``policy`` interface.
"""

import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal

from componentize_py_types import Err
from episode import Episode
from fix import Fix, rows
from wit_world import exports
from wit_world.imports.geo import Route, legs_m
from wit_world.imports.types import (
    Descriptor,
    Evidence,
    EvidenceValue_Text,
    Finding,
    Fixes,
    Observation,
    Param,
    ParamKind,
    ParamSpec,
    ParamValue_Float,
    Severity,
    Transit,
)


class Policy(exports.Policy):
    """The contract's ``policy`` interface: who the policy is, and its rules."""

    def describe(self) -> Descriptor:
        """The policy's id, version and parameters, always the same."""
        return Descriptor(
            id="speed",
            version="0.1.0",
            summary="Speed sanity: position jumps, excessive reported speed and poor fixes.",
            params=[
                float_param(
                    "implausible_kmh",
                    150.0,
                    "A speed implied by two consecutive fixes above this is a jump, km/h.",
                ),
                float_param(
                    "implausible_min_m",
                    1000.0,
                    "Hops shorter than this are receiver noise, never jumps, metres.",
                ),
                float_param(
                    "max_hdop",
                    5.0,
                    "Fixes with a higher hdop are poor: exempt from jumps and reported as data quality.",
                ),
                float_param("excessive_kmh", 110.0, "Reported speed above this is excessive, km/h."),
                float_param(
                    "excessive_min_minutes",
                    2.0,
                    "Excessive speed must last this long to be reported, minutes.",
                ),
                float_param(
                    "poor_warning_minutes",
                    30.0,
                    "A run of poor fixes this long is a warning, not info, minutes.",
                ),
            ],
        )

    def admit(self, transit: Transit, route: Route | None, params: list[Param]) -> list[Finding]:
        """Nothing to say when a transit opens: speed is about fixes."""
        return []

    def observe(
        self,
        transit: Transit,
        route: Route | None,
        params: list[Param],
        fixes: Fixes,
        now: int,
        state: bytes,
    ) -> Observation:
        """Follows the batch's fixes on from where the previous batch ended.

        The host measures the legs: one call for every leg of the batch, the
        leg into it from the previous batch's last fix included, so a jump
        across two batches is seen as well as one inside a batch.
        """
        limits = Limits.from_params(params)
        tracked = State.load(state)

        lat, lon = [], []
        if tracked.last is not None:
            lat.append(tracked.last.lat)
            lon.append(tracked.last.lon)
        lat.extend(fixes.lat)
        lon.extend(fixes.lon)
        leg_lengths_m = legs_m(lat, lon)

        findings = follow(tracked, rows(fixes), leg_lengths_m, limits)
        return Observation(findings=findings, open=still_open(tracked, limits), state=tracked.save())


def float_param(name: str, default: float, doc: str) -> ParamSpec:
    """A ``float`` parameter with its default."""
    return ParamSpec(name=name, kind=ParamKind.FLOAT, default=ParamValue_Float(default), doc=doc)


@dataclass(frozen=True)
class Limits:
    """The parameters of one call, as the rules use them."""

    implausible_kmh: float
    implausible_min_m: float
    max_hdop: float
    excessive_kmh: float
    excessive_min_minutes: float
    poor_warning_minutes: float

    @classmethod
    def from_params(cls, params: list[Param]) -> "Limits":
        """Reads every parameter by name.

        The host has already checked the values against ``describe``, so this
        fails (as the policy's own error, not a finding) only if a parameter
        the policy declared is missing or of another kind.
        """

        def float_value(name: str) -> float:
            for param in params:
                if param.name == name:
                    if isinstance(param.value, ParamValue_Float):
                        return param.value.value
                    raise Err(f"parameter `{name}` is not a float")
            raise Err(f"parameter `{name}` was not passed")

        return cls(
            implausible_kmh=float_value("implausible_kmh"),
            implausible_min_m=float_value("implausible_min_m"),
            max_hdop=float_value("max_hdop"),
            excessive_kmh=float_value("excessive_kmh"),
            excessive_min_minutes=float_value("excessive_min_minutes"),
            poor_warning_minutes=float_value("poor_warning_minutes"),
        )


@dataclass
class LastFix:
    """What the next fix is compared with: the previous one, maybe from the previous batch."""

    at: int
    lat: float
    lon: float
    poor: bool


@dataclass
class State:
    """What survives from one batch to the next: the last fix and the open episodes.

    The host keeps it as opaque bytes and hands it back with the next batch;
    here they are JSON, whose floats (written with ``repr``) read back exactly.
    """

    last: LastFix | None = None
    jump: Episode | None = None
    excessive: Episode | None = None
    poor: Episode | None = None

    @classmethod
    def load(cls, data: bytes) -> "State":
        """The state the previous call returned; the first call gets empty bytes."""
        if not data:
            return cls()
        try:
            saved = json.loads(data)
            return cls(
                last=LastFix(**saved["last"]) if saved["last"] else None,
                jump=Episode(**saved["jump"]) if saved["jump"] else None,
                excessive=Episode(**saved["excessive"]) if saved["excessive"] else None,
                poor=Episode(**saved["poor"]) if saved["poor"] else None,
            )
        except (ValueError, KeyError, TypeError) as e:
            raise Err(f"state from the previous batch is unreadable: {e}") from e

    def save(self) -> bytes:
        """The state to hand back to the host."""
        return json.dumps(asdict(self)).encode()


def follow(state: State, fixes: Iterable[Fix], leg_lengths_m: list[float], limits: Limits) -> list[Finding]:
    """Feeds fixes to the open episodes and returns the findings of those that ended.

    ``leg_lengths_m`` are the legs between the previous batch's last fix, if
    any, and the fixes, in order. The episodes still open stay in ``state``;
    ``still_open`` reports them. Within a fix the rules run in a fixed order
    (jump, excessive speed, poor fix), which is the order of the findings.
    """
    findings = []
    had_last = 1 if state.last is not None else 0
    for i, fix in enumerate(fixes):
        poor = fix.is_low_accuracy(limits.max_hdop)
        last = state.last
        if last is not None:
            leg_m = leg_lengths_m[i + had_last - 1]
            hours = float(fix.at - last.at) / 3_600_000.0
            implied_kmh = leg_m / 1000.0 / hours if hours > 0.0 else math.inf
            jumped = (
                not poor
                and not last.poor
                and leg_m > limits.implausible_min_m
                and implied_kmh > limits.implausible_kmh
            )
            if jumped:
                # A jump straight after a jump (out and back) is the same episode.
                if state.jump is not None and state.jump.to == last.at:
                    state.jump.extend(fix, implied_kmh)
                else:
                    if state.jump is not None:
                        findings.append(jump_finding(state.jump))
                    state.jump = Episode.start_at(last.at, fix, implied_kmh)
            elif state.jump is not None:
                findings.append(jump_finding(state.jump))
                state.jump = None

        if fix.speed_kmh is not None and fix.speed_kmh > limits.excessive_kmh:
            state.excessive = Episode.start_or_extend(state.excessive, fix, fix.speed_kmh)
        elif state.excessive is not None:
            # A run too short to report ends without a finding.
            finding = excessive_finding(state.excessive, limits)
            if finding is not None:
                findings.append(finding)
            state.excessive = None

        if poor:
            state.poor = Episode.start_or_extend(state.poor, fix, fix.hdop)
        elif state.poor is not None:
            findings.append(poor_finding(state.poor, limits))
            state.poor = None

        state.last = LastFix(at=fix.at, lat=fix.lat, lon=fix.lon, poor=poor)
    return findings


def still_open(state: State, limits: Limits) -> list[Finding]:
    """The findings of the episodes still going on, as they stand.

    Every call reports them, an empty batch's too, because the host keeps only
    the last call's open findings: a provisional finding that a later fix
    disproves then simply disappears.
    """
    candidates = [
        jump_finding(state.jump) if state.jump is not None else None,
        excessive_finding(state.excessive, limits) if state.excessive is not None else None,
        poor_finding(state.poor, limits) if state.poor is not None else None,
    ]
    return [finding for finding in candidates if finding is not None]


def jump_finding(jump: Episode) -> Finding:
    """``speed.implausible``: the position jumped, once or out and back."""
    jumps = jump.fixes
    return Finding(
        code="speed.implausible",
        severity=Severity.VIOLATION,
        message=f"position jumped at an implied {jump.peak:.0f} km/h ({jumps} jump{'' if jumps == 1 else 's'})",
        from_=jump.from_,
        to=jump.to,
        position=jump.peak_position(),
        evidence=[
            text("max_implied_kmh", f"{jump.peak:.0f}"),
            text("jumps", str(jumps)),
        ],
    )


def excessive_finding(run: Episode, limits: Limits) -> Finding | None:
    """``speed.excessive``, or ``None`` while the run is shorter than the limit."""
    if run.minutes() < limits.excessive_min_minutes:
        return None
    return Finding(
        code="speed.excessive",
        severity=Severity.WARNING,
        message=f"reported up to {run.peak:.0f} km/h for {run.minutes():.0f} min",
        from_=run.from_,
        to=run.to,
        position=run.peak_position(),
        evidence=[
            text("max_speed_kmh", f"{run.peak:.1f}"),
            text("minutes", f"{run.minutes():.0f}"),
        ],
    )


def poor_finding(run: Episode, limits: Limits) -> Finding:
    """``telemetry.quality``: a run of poor fixes, a warning once it lasts."""
    severity = Severity.WARNING if run.minutes() >= limits.poor_warning_minutes else Severity.INFO
    return Finding(
        code="telemetry.quality",
        severity=severity,
        message=(
            f"{run.fixes} fix{'' if run.fixes == 1 else 'es'} with hdop above "
            f"{shortest(limits.max_hdop)} over {run.minutes():.0f} min"
        ),
        from_=run.from_,
        to=run.to,
        position=run.peak_position(),
        evidence=[
            text("poor_fixes", str(run.fixes)),
            text("max_hdop", f"{run.peak:.1f}"),
        ],
    )


def text(name: str, value: str) -> Evidence:
    """One piece of evidence with a single text value."""
    return Evidence(name=name, value=EvidenceValue_Text(value))


def shortest(value: float) -> str:
    """A float as Rust's ``{}`` prints it, so both policies write the same text.

    That is the shortest decimal that reads back as the same float, never in
    exponent notation and without a trailing ``.0``: 5.0 prints ``5``, 5.5
    prints ``5.5``, 1e-7 prints ``0.0000001``. Python's ``repr`` finds the same
    shortest digits but for one case: when the float lies exactly halfway
    between two shortest decimals (206342891139166.625, say), ``repr`` picks
    the even one and Rust the one further from zero. (Fixed precision, ``{:.0}``
    and ``{:.1}``, needs no help: Python's ``f"{x:.0f}"`` rounds the exact
    binary value half to even, as Rust does.)
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    digits = Decimal(repr(value))
    away_from_zero = Decimal(value).quantize(digits, rounding=ROUND_HALF_UP)
    if float(away_from_zero) == value:
        digits = away_from_zero
    return format(digits.normalize(), "f")
