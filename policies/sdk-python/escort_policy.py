"""The Python SDK for writing Escort policies, contract ``escort:policy@0.2.0``.

A policy is a class that derives from ``Policy`` and declares who it is, its
parameters and its state; its rule is ``observe`` (and ``admit`` when it
judges the declaration). The contract's generated bindings (``wit_world``)
stay inside this module: the author's ``app.py`` imports what it needs from
here and nothing else::

    from escort_policy import Policy, Severity, finding, float_param, number

    class TooFast(Policy):
        id = "too_fast"
        version = "0.2.0"
        summary = "Reports every fix above a speed."
        params = [float_param("limit_kmh", 90.0, "Highest allowed reported speed, km/h.")]

        def observe(self, transit, params, fixes, now, state):
            findings = [
                finding("too_fast.fix", Severity.WARNING, f"{fix.speed_kmh:.0f} km/h", fix.at, fix.at,
                        position=fix.position, evidence=[number("speed_kmh", fix.speed_kmh, 1)])
                for fix in fixes
                if fix.speed_kmh is not None and fix.speed_kmh > params.limit_kmh
            ]
            return findings, []   # a fix is over once reported: nothing stays open

What the SDK does for the rule:

- ``describe()`` is answered from the class's ``id``, ``version``,
  ``summary`` and ``params``; each call's parameter values (a list in that
  order) become one object, read by name: ``params.limit_kmh``.
- ``State``, a dataclass the policy declares (nested in its class), is what
  it carries from one batch of a transit to the next. The SDK hands
  ``observe`` the instance the previous batch left (a fresh ``State()`` at
  first) and keeps what ``observe`` changes in it, as JSON: floats read back
  to the bit, and ``int`` timestamps stay exact. Its fields may be numbers,
  texts, booleans, enums (``SealState``), other dataclasses (``Episode``),
  lists and dicts of them, or ``None``.
- ``fixes`` iterate as ``Fix`` rows, a value the device did not report being
  ``None`` (the contract's NaN); the columns stay readable as lists
  (``fixes.lat``) for the host's geodesy, which answers a whole batch at once.
- Any exception raised by the rule becomes the contract's ``err``, which the
  host reports as a ``policy.error`` finding: its text is the exception's
  type, message, file and line, such as
  ``ZeroDivisionError: division by zero (app.py, line 42)``. Without it
  componentize-py would trap with nothing but "wasm `unreachable`
  instruction executed".

Why ``Policy`` is odd: componentize-py exports the class that ``app.py``
names ``Policy``, calling it once with no arguments. The author's module names
this base class (``from escort_policy import Policy``), so calling it gives
the exported object, which forwards to the one subclass the module defines.
The subclass is therefore named after its rule (``Speed``), never ``Policy``.
"""

import dataclasses
import enum
import functools
import json
import math
import os
import types
import typing
from decimal import ROUND_HALF_UP, Decimal

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import batch, geo, transit
from wit_world.imports.geo import Position
from wit_world.imports.types import (
    AuthorisedStop,
    Declaration,
    Descriptor,
    Evidence,
    EvidenceValue_Integer,
    EvidenceValue_Number,
    EvidenceValue_Text,
    EvidenceValue_Texts,
    Finding,
    Fixes,
    GoodsItem,
    Number,
    Observation,
    ParamKind,
    ParamSpec,
    ParamValue_Boolean,
    ParamValue_Float,
    ParamValue_Integer,
    ParamValue_Text,
    Party,
    RiskZone,
    SealState,
    Severity,
    Zone,
)

__all__ = [
    "MINUTE_MS",
    "AuthorisedStop",
    "Declaration",
    "Episode",
    "Fix",
    "Finding",
    "GoodsItem",
    "Party",
    "Policy",
    "Position",
    "RiskZone",
    "SealState",
    "Severity",
    "Transit",
    "Zone",
    "boolean_param",
    "distances_to_m",
    "finding",
    "float_param",
    "inside",
    "integer",
    "integer_param",
    "legs_m",
    "minutes_between",
    "number",
    "shortest",
    "text",
    "text_param",
    "texts",
]

MINUTE_MS = 60_000
"""One minute in the contract's time unit (milliseconds)."""


def minutes_between(start: int, end: int) -> float:
    """The whole and fractional minutes from ``start`` to ``end`` (milliseconds).

    The difference is taken on exact integers and divided as a float, as the
    Rust SDK does, so policies in both languages get the same bits.
    """
    return float(end - start) / MINUTE_MS


# --- Parameters -------------------------------------------------------------


def float_param(name: str, default: float, doc: str) -> ParamSpec:
    """A float parameter: ``name`` snake_case with its unit, ``doc`` one sentence for the regulator."""
    return ParamSpec(name=name, kind=ParamKind.FLOAT, default=ParamValue_Float(float(default)), doc=doc)


def integer_param(name: str, default: int, doc: str) -> ParamSpec:
    """A whole-number parameter (64 bits)."""
    return ParamSpec(name=name, kind=ParamKind.INTEGER, default=ParamValue_Integer(default), doc=doc)


def boolean_param(name: str, default: bool, doc: str) -> ParamSpec:
    """A yes-or-no parameter."""
    return ParamSpec(name=name, kind=ParamKind.BOOLEAN, default=ParamValue_Boolean(default), doc=doc)


def text_param(name: str, default: str, doc: str) -> ParamSpec:
    """A text parameter, at most 4,096 bytes."""
    return ParamSpec(name=name, kind=ParamKind.TEXT, default=ParamValue_Text(default), doc=doc)


def _read_params(specs: list[ParamSpec], values: list) -> types.SimpleNamespace:
    """One call's values, which the host passes in ``specs`` order, by name.

    The host has checked each against ``describe()``, so a mismatch here is
    a defect of the host, reported as the policy's error.
    """
    if len(values) != len(specs):
        raise ValueError(f"{len(values)} parameter values passed for {len(specs)} parameters")
    read = {}
    for spec, value in zip(specs, values):
        if type(value) is not type(spec.default):
            raise TypeError(f"parameter `{spec.name}` was passed a value of another kind")
        read[spec.name] = value.value
    return types.SimpleNamespace(**read)


# --- Fixes --------------------------------------------------------------------


class Fix(typing.NamedTuple):
    """One fix of a batch. A value the device did not report is ``None``."""

    at: int
    """When the fix was taken, milliseconds since 1970-01-01T00:00:00Z."""
    lat: float
    """Latitude, WGS 84 degrees."""
    lon: float
    """Longitude, WGS 84 degrees."""
    speed_kmh: float | None
    """Speed reported by the device, km/h."""
    course_deg: float | None
    """Course over ground, degrees clockwise from north."""
    hdop: float | None
    """Horizontal dilution of precision; above 5 is a poor fix."""
    sats: float | None
    """Satellites used."""
    battery_pct: float | None
    """Seal battery charge, percent."""
    seal: SealState
    """Seal state; ``SealState.UNKNOWN`` when not reported."""

    @property
    def position(self) -> Position:
        """Where the fix was taken."""
        return Position(lat=self.lat, lon=self.lon)

    def is_low_accuracy(self, max_hdop: float) -> bool:
        """Whether the receiver reported an hdop above ``max_hdop`` (a fix without one is not)."""
        return self.hdop is not None and self.hdop > max_hdop


def _reported(column: list[float]) -> list[float | None]:
    # NaN compares false with everything, so a rule comparing it would read
    # "not reported" as "within limits": None cannot be compared by mistake.
    return [None if math.isnan(value) else value for value in column]


_NO_FIXES = Fixes(at=[], numbers=[], seal=b"")

# The contract sends each fix's seal state as the index of its case.
_SEAL_STATES = tuple(SealState)


class Batch:
    """The batch of fixes of one call: rows to iterate, columns to hand the host's geodesy.

    ``for fix in fixes`` gives ``Fix`` rows in time order; ``fixes.at``,
    ``fixes.lat``, ``fixes.lon`` ... are the contract's columns (NaN where not
    reported; ``fixes.seal`` holds each state's index, a row its ``SealState``);
    ``len(fixes)`` is 0 when only time has passed.
    """

    def __init__(self, columns: Fixes):
        self.columns = columns
        self.at = columns.at
        # The contract sends the seven numeric columns as one list, one after the other.
        n = len(columns.at)
        (
            self.lat,
            self.lon,
            self.speed_kmh,
            self.course_deg,
            self.hdop,
            self.sats,
            self.battery_pct,
        ) = (columns.numbers[k * n : (k + 1) * n] for k in range(7))
        self.seal = columns.seal

    def __len__(self) -> int:
        return len(self.at)

    def __iter__(self) -> typing.Iterator[Fix]:
        return map(
            Fix,
            self.at,
            self.lat,
            self.lon,
            _reported(self.speed_kmh),
            _reported(self.course_deg),
            _reported(self.hdop),
            _reported(self.sats),
            _reported(self.battery_pct),
            map(_SEAL_STATES.__getitem__, self.seal),
        )


# --- Geodesy and the transit --------------------------------------------------


def legs_m(lat: list[float], lon: list[float]) -> list[float]:
    """The lengths in metres of the legs between consecutive positions (``n`` give ``n - 1``).

    One call to the host for all of them, on the WGS 84 mean sphere.
    """
    return geo.legs_m(lat, lon)


def distances_to_m(lat: list[float], lon: list[float], to: Position) -> list[float]:
    """For each position ``(lat[i], lon[i])``, its distance in metres to ``to``; one host call."""
    return geo.distances_to_m(lat, lon, to)


def inside(zone: Zone, lat: list[float], lon: list[float]) -> list[bool]:
    """Whether each position is inside ``zone`` (a customs office, a stop's zone); one host call."""
    return [distance_m <= zone.radius_m for distance_m in geo.distances_to_m(lat, lon, zone.center)]


class Transit:
    """The transit the call in progress is about.

    Each question is one call to the host, which copies only its answer in:
    ask for what the rule needs, once per call. ``id()``, ``opened_at()``,
    ``deadline()`` (or ``None``), ``corridor_m()`` (or ``None``),
    ``departure()`` and ``destination()`` (``Zone``: ``id``, ``name``,
    ``center``, ``radius_m``), ``stops()`` (``AuthorisedStop``: ``zone``,
    ``max_minutes`` or ``None``), ``declaration()`` (``Declaration``:
    ``number``, ``seal_id``, ``vehicle``, ``importer``, ``carrier``,
    ``goods``); the route: ``has_route()``, ``route_length_m()``,
    ``route_offsets_m(lat, lon)`` and ``route_progress_m(lat, lon)``, each
    ``None`` without a route. ``legs_m`` and ``distances_to_m`` are here too,
    as in the Rust SDK.
    """

    def __init__(self, lent):
        self._lent = lent

    def __getattr__(self, question: str):
        return getattr(self._lent, question)

    legs_m = staticmethod(legs_m)
    distances_to_m = staticmethod(distances_to_m)


# --- Findings and evidence ------------------------------------------------------


def finding(
    code: str,
    severity: Severity,
    message: str,
    start: int,
    end: int,
    position: Position | None = None,
    evidence: list[Evidence] = (),
) -> Finding:
    """A finding: ``code`` is ``<policy id>.<snake_case>``, ``message`` one sentence for an
    officer, ``start`` and ``end`` milliseconds, ``evidence`` at most 32 pieces."""
    return Finding(
        code=code,
        severity=severity,
        message=message,
        from_=start,
        to=end,
        position=position,
        evidence=list(evidence),
    )


def number(name: str, value: float, decimals: int) -> Evidence:
    """A number the host prints with ``decimals`` digits after the point (Python's
    ``f"{value:.{decimals}f}"``, Rust's ``{:.N}``): the same bytes whatever language wrote the
    policy. Finite, at most 9 decimals; the unit goes in the name: ``max_speed_kmh``."""
    return Evidence(name=name, value=EvidenceValue_Number(Number(value=float(value), decimals=decimals)))


def integer(name: str, value: int) -> Evidence:
    """A whole number, such as a count."""
    return Evidence(name=name, value=EvidenceValue_Integer(value))


def text(name: str, value: str) -> Evidence:
    """One text, at most 1,000 bytes."""
    return Evidence(name=name, value=EvidenceValue_Text(value))


def texts(name: str, values: list[str]) -> Evidence:
    """A list of at most 100 texts."""
    return Evidence(name=name, value=EvidenceValue_Texts(list(values)))


def shortest(value: float) -> str:
    """A float as Rust's ``{}`` prints it, for a message that a Rust policy also writes.

    That is the shortest decimal that reads back as the same float, never in
    exponent form and without a trailing ``.0``: 5.0 is ``5``, 1e-7 is
    ``0.0000001``. Python's ``repr`` finds the same digits but for a float
    exactly halfway between two shortest decimals, where it picks the even one
    and Rust the one further from zero. (``{:.N}`` needs no help:
    ``f"{x:.1f}"`` gives Rust's bytes.)
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


# --- Episodes -----------------------------------------------------------------


@dataclasses.dataclass
class Episode:
    """A run of consecutive fixes that meet a condition (above a speed, with a poor hdop),
    with the fix where a measured value peaked: what one finding reports.

    Keep the open one in ``State``, so that a run spanning batches stays one
    finding. Field for field the Rust SDK's, so both report the same peak,
    place and duration.
    """

    start: int
    """Time of the first fix of the run."""
    end: int
    """Time of the last fix of the run so far."""
    fixes: int
    """How many fixes the run holds."""
    peak: float
    """The largest value seen; what it measures is the rule's business."""
    peak_at: int
    """Time of the fix with the peak value."""
    peak_lat: float
    peak_lon: float

    @classmethod
    def starting(cls, fix: Fix, value: float, start: int | None = None) -> "Episode":
        """A run of one fix, whose measured value is ``value``; from an earlier time ``start``
        if given (a fix already let go of, such as the one before a jump)."""
        return cls(fix.at if start is None else start, fix.at, 1, value, fix.at, fix.lat, fix.lon)

    def extend(self, fix: Fix, value: float) -> None:
        """Adds ``fix``; ``value`` becomes the peak only if larger (on a tie the earlier fix keeps it)."""
        self.end = fix.at
        self.fixes += 1
        if value > self.peak:
            self.peak, self.peak_at, self.peak_lat, self.peak_lon = value, fix.at, fix.lat, fix.lon

    @classmethod
    def start_or_extend(cls, run: "Episode | None", fix: Fix, value: float, start: int | None = None) -> "Episode":
        """``run`` extended by ``fix``, or if ``run`` is ``None`` a new run (from ``start``, as ``starting``)."""
        if run is None:
            return cls.starting(fix, value, start)
        run.extend(fix, value)
        return run

    def minutes(self) -> float:
        """Minutes from the first to the last fix of the run."""
        return minutes_between(self.start, self.end)

    def peak_position(self) -> Position:
        """Where the peak value was measured."""
        return Position(lat=self.peak_lat, lon=self.peak_lon)


# --- State ----------------------------------------------------------------------


def _to_json(value):
    if dataclasses.is_dataclass(value):
        return {field.name: _to_json(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_to_json(item) for item in value]
    if isinstance(value, dict):
        return {key: _to_json(item) for key, item in value.items()}
    if isinstance(value, enum.Enum):
        return value.name
    return value


@functools.cache
def _hints(dataclass: type) -> dict:
    # Resolving annotations costs more than reading a small state: once per class.
    return typing.get_type_hints(dataclass)


def _from_json(kind, value):
    """``value`` read from JSON as the annotation ``kind``: dataclasses, ``X | None``,
    ``list[X]``, ``dict[str, X]``, enums, and ``int``, ``float``, ``str``, ``bool``."""
    if value is None:
        return None
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        return _from_json(next(arg for arg in typing.get_args(kind) if arg is not type(None)), value)
    if origin is list:
        (item,) = typing.get_args(kind)
        return [_from_json(item, entry) for entry in value]
    if origin is dict:
        _, item = typing.get_args(kind)
        return {key: _from_json(item, entry) for key, entry in value.items()}
    if dataclasses.is_dataclass(kind):
        hints = _hints(kind)
        return kind(**{name: _from_json(hints[name], entry) for name, entry in value.items()})
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind[value]
    if kind is float:
        return float(value)
    return value


class _NoState:
    """The state of a policy that declares none."""


# --- The policy -------------------------------------------------------------------


class Policy:
    """The base of a policy: derive from it once per module.

    Declare ``id`` (snake_case), ``version`` (the manifest's), ``summary`` (one
    sentence), ``params`` (a list of ``float_param``, ``integer_param``,
    ``boolean_param``, ``text_param``), optionally a ``State`` dataclass whose
    fields all have defaults, and define:

    - ``observe(self, transit, params, fixes, now, state)``, returning
      ``(findings, open)``: the findings of what is over (final, they
      accumulate) and those of what is still going on at ``now`` (as they
      stand; every call, an empty batch's too, reports them again, since each
      call's ``open`` replaces the previous one's whole);
    - ``admit(self, transit, params)``, returning findings, if the policy
      judges the declaration when the transit opens (by default, none).

    Keep nothing between calls but in ``state``: Escort reuses one instance
    for every transit.
    """

    id: str
    version: str
    summary: str
    params: list[ParamSpec] = []
    State: type = _NoState

    def __new__(cls, *args, **kwargs):
        if cls is Policy:
            # componentize-py makes the exported `Policy` anew for every
            # call; the one made first serves them all.
            global _exported
            if _exported is None:
                _exported = _Exported()
            return _exported
        return super().__new__(cls)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__name__ == "Policy":
            raise TypeError("name the policy's class after its rule (`class Speed(Policy)`): "
                            "componentize-py exports the module's `Policy`, which must stay the SDK's")
        _defined.append(cls)

    def admit(self, transit: Transit, params) -> list[Finding]:
        """Judges the declaration once, when the transit opens. By default, nothing."""
        return []

    def observe(self, transit: Transit, params, fixes: Batch, now: int, state) -> tuple[list[Finding], list[Finding]]:
        """Judges a batch of new fixes as of ``now``, updating ``state``."""
        raise NotImplementedError(f"{type(self).__name__} defines no `observe`")


_defined: list[type] = []
"""The subclasses of ``Policy`` defined so far: the one of ``app.py`` is exported."""


_STANDARD_LIBRARY = os.path.dirname(os.__file__)


def _failure(error: BaseException) -> str:
    """``error`` in one line: its type, message, and the last line of the policy's own code it
    went through (this module's lines and the standard library's say nothing to the author)."""
    place = ""
    frame = error.__traceback__
    while frame is not None:
        filename = frame.tb_frame.f_code.co_filename
        if filename != __file__ and not filename.startswith(_STANDARD_LIBRARY):
            place = f" ({os.path.basename(filename)}, line {frame.tb_lineno})"
        frame = frame.tb_next
    message = str(error)
    return f"{type(error).__name__}: {message}{place}" if message else f"{type(error).__name__}{place}"


def _findings(answer) -> list[Finding]:
    """``answer`` as the contract's list, checked here: a value of another type would
    fail in the packager's code, as a trap that names nothing."""
    findings = list(answer)
    for value in findings:
        if not isinstance(value, Finding):
            raise TypeError(f"a finding was expected, not {value!r:.100} (make one with `finding(...)`)")
    return findings


# The parameters `configure` read, for the instance's later calls.
_configured = None
_exported = None


class _Exported(exports.Policy):
    """The contract's ``policy`` interface, as componentize-py calls it, over the policy class.

    Made once per instance, at its first call; a policy class that cannot
    describe itself fails the build (which asks it), with Python's own
    traceback.
    """

    def __init__(self):
        if len(_defined) != 1:
            names = ", ".join(cls.__name__ for cls in _defined) or "none"
            raise TypeError(f"a policy module defines one subclass of Policy, not: {names}")
        self.policy = _defined[0]()
        cls = type(self.policy)
        self.descriptor = Descriptor(id=cls.id, version=cls.version, summary=cls.summary, params=list(cls.params))
        self.state_type = cls.State

    def describe(self) -> Descriptor:
        return self.descriptor

    def configure(self, params: list) -> None:
        global _configured
        try:
            _configured = _read_params(self.descriptor.params, params)
        except Exception as e:
            raise Err(_failure(e)) from e

    def admit(self) -> list[Finding]:
        try:
            return _findings(self.policy.admit(Transit(transit), self._configured()))
        except Exception as e:
            raise Err(_failure(e)) from e

    def observe(self, now: int, count: int, state: bytes) -> Observation:
        try:
            kept = self._load(state)
            # The host is asked for the fixes only when there are any.
            fixes = Batch(batch.columns() if count else _NO_FIXES)
            answer = self.policy.observe(Transit(transit), self._configured(), fixes, now, kept)
            if not isinstance(answer, tuple) or len(answer) != 2:
                raise TypeError(f"{type(self.policy).__name__}.observe answered {answer!r:.100}, not (findings, open)")
            return Observation(findings=_findings(answer[0]), open=_findings(answer[1]), state=self._save(kept))
        except Exception as e:
            raise Err(_failure(e)) from e

    def _configured(self):
        if _configured is None:
            raise RuntimeError("called before `configure`")
        return _configured

    def _load(self, saved: bytes):
        if not saved:
            return self.state_type()
        try:
            return _from_json(self.state_type, json.loads(saved))
        except (ValueError, TypeError, KeyError) as e:
            raise ValueError(f"the state from the previous batch is unreadable: {e}") from e

    def _save(self, state) -> bytes:
        if isinstance(state, _NoState):
            return b""
        return json.dumps(_to_json(state), separators=(",", ":")).encode()
