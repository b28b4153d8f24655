"""``{{id}}``: warns when a fix reports the seal's battery running low.

A starting point made by ``escort policy new``: change the rule, keep the
shape. componentize-py exports the class ``Policy`` of this module as the
contract's ``policy`` interface:

- ``describe`` says who the policy is and which parameters it takes;
- ``admit`` looks at a transit once, when it opens;
- ``observe`` looks at each batch of new fixes, and returns the findings of
  what is over, the findings of what is still going on (``open``), and the
  state it wants back with the next batch.

This rule needs no memory between batches, so it hands its state back
unchanged. The component imports nothing but the host's geodesy: it reads no
clock, files or randomness, so the same fixes always give the same findings.
"""

import math

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports.geo import Position, Route
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
    """The rule: one warning for every fix whose battery is below the threshold."""

    def describe(self) -> Descriptor:
        return Descriptor(
            id="{{id}}",
            version="0.1.0",
            summary="Warns when a fix reports the seal's battery below a threshold.",
            params=[
                ParamSpec(
                    name="min_battery_pct",
                    kind=ParamKind.FLOAT,
                    default=ParamValue_Float(20.0),
                    doc="A battery charge below this, percent, is low.",
                )
            ],
        )

    def admit(self, transit: Transit, route: Route | None, params: list[Param]) -> list[Finding]:
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
        min_battery_pct = float_param(params, "min_battery_pct")
        findings = []
        for at, lat, lon, pct in zip(fixes.at, fixes.lat, fixes.lon, fixes.battery_pct):
            # NaN means the seal did not report its battery: no reading, no finding.
            if math.isnan(pct) or pct >= min_battery_pct:
                continue
            findings.append(
                Finding(
                    code="{{id}}.battery_low",
                    severity=Severity.WARNING,
                    message=f"seal battery at {pct:.0f} %",
                    from_=at,
                    to=at,
                    position=Position(lat=lat, lon=lon),
                    evidence=[Evidence(name="battery_pct", value=EvidenceValue_Text(f"{pct:.0f}"))],
                )
            )
        return Observation(findings=findings, open=[], state=state)


def float_param(params: list[Param], name: str) -> float:
    """A parameter's value. The host checked it against ``describe``, so a
    missing one is a bug: raising ``Err`` reports it as the policy's error."""
    for param in params:
        if param.name == name and isinstance(param.value, ParamValue_Float):
            return param.value.value
    raise Err(f"parameter `{name}` is missing")
