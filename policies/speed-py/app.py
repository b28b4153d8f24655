"""Speed sanity, one finding per episode (open while it lasts): the findings of ``policies/speed`` to the byte.

- ``speed.implausible`` (violation): two consecutive fixes imply a speed no truck reaches over a distance no receiver
  jitters (spoofing, jamming, a seal moved to another vehicle); out and back is one jump; poor fixes are exempt.
- ``speed.excessive`` (warning): the reported speed stays above a limit.
- ``telemetry.quality`` (info, warning when long): a run of poor fixes.
"""

import math
from dataclasses import dataclass

from escort_policy import Episode, Policy, Severity, finding, float_param, integer, number, shortest


@dataclass
class LastFix:  # what the next fix is compared with, maybe from the previous batch
    at: int
    lat: float
    lon: float
    poor: bool


class Speed(Policy):
    id = "speed"
    version = "0.1.0"
    summary = "Speed sanity: position jumps, excessive reported speed and poor fixes."
    params = [
        float_param("implausible_kmh", 150.0, "A speed implied by two consecutive fixes above this is a jump, km/h."),
        float_param("implausible_min_m", 1000.0, "Hops shorter than this are receiver noise, never jumps, metres."),
        float_param("max_hdop", 5.0,
                    "Fixes with a higher hdop are poor: exempt from jumps and reported as data quality."),
        float_param("excessive_kmh", 110.0, "Reported speed above this is excessive, km/h."),
        float_param("excessive_min_minutes", 2.0, "Excessive speed must last this long to be reported, minutes."),
        float_param("poor_warning_minutes", 30.0, "A run of poor fixes this long is a warning, not info, minutes."),
    ]

    @dataclass
    class State:
        last: LastFix | None = None
        jump: Episode | None = None
        excessive: Episode | None = None
        poor: Episode | None = None

    def observe(self, transit, limits, fixes, now, state):
        # One host call measures every leg, the one into the batch included: a jump between batches counts.
        before = [state.last] if state.last else []
        legs = iter(transit.legs_m([b.lat for b in before] + fixes.lat, [b.lon for b in before] + fixes.lon))
        findings = []
        for fix in fixes:
            poor = fix.is_low_accuracy(limits.max_hdop)
            if (last := state.last) is not None:
                leg_m, hours = next(legs), (fix.at - last.at) / 3_600_000
                kmh = leg_m / 1000 / hours if hours > 0 else math.inf
                jumped = not (poor or last.poor) and leg_m > limits.implausible_min_m and kmh > limits.implausible_kmh
                if state.jump and not (jumped and state.jump.end == last.at):  # out and back is one episode
                    findings += jump_finding(state.jump)
                    state.jump = None
                if jumped:  # from the fix before the jump
                    state.jump = Episode.start_or_extend(state.jump, fix, kmh, start=last.at)
            if fix.speed_kmh is not None and fix.speed_kmh > limits.excessive_kmh:
                state.excessive = Episode.start_or_extend(state.excessive, fix, fix.speed_kmh)
            elif state.excessive:
                findings += excessive_finding(state.excessive, limits)
                state.excessive = None
            if poor:
                state.poor = Episode.start_or_extend(state.poor, fix, fix.hdop)
            elif state.poor:
                findings += poor_finding(state.poor, limits)
                state.poor = None
            state.last = LastFix(fix.at, fix.lat, fix.lon, poor)
        still_open = jump_finding(state.jump) + excessive_finding(state.excessive, limits)
        return findings, still_open + poor_finding(state.poor, limits)


# Each gives its finding as a list: none without an episode, nor for excessive speed shorter than the limit.
def jump_finding(jump):
    if not jump:
        return []
    message = f"position jumped at an implied {jump.peak:.0f} km/h ({jump.fixes} jump{'' if jump.fixes == 1 else 's'})"
    return [finding("speed.implausible", Severity.VIOLATION, message, jump.start, jump.end, jump.peak_position(),
                    [number("max_implied_kmh", jump.peak, 0), integer("jumps", jump.fixes)])]


def excessive_finding(run, limits):
    if not run or run.minutes() < limits.excessive_min_minutes:
        return []
    message = f"reported up to {run.peak:.0f} km/h for {run.minutes():.0f} min"
    return [finding("speed.excessive", Severity.WARNING, message, run.start, run.end, run.peak_position(),
                    [number("max_speed_kmh", run.peak, 1), number("minutes", run.minutes(), 0)])]


def poor_finding(run, limits):
    if not run:
        return []
    severity = Severity.WARNING if run.minutes() >= limits.poor_warning_minutes else Severity.INFO
    fixes = f"{run.fixes} fix{'' if run.fixes == 1 else 'es'}"
    message = f"{fixes} with hdop above {shortest(limits.max_hdop)} over {run.minutes():.0f} min"
    return [finding("telemetry.quality", severity, message, run.start, run.end, run.peak_position(),
                    [integer("poor_fixes", run.fixes), number("max_hdop", run.peak, 1)])]
