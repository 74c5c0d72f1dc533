"""Driver for the SunSpec Modbus DER settings interface of a charger or inverter
("sunspec-der", role ``der_settings``): the bench writes grid-code settings (fixed cos phi,
fixed Q, volt-var, frequency droop) on the unit's own SunSpec map and reads them back.

SunSpec: at the base address (40000, else 0 or 50000) the marker ``SunS`` (0x5375 0x6E53),
then blocks of ``ID``, ``L`` (length after these two) and ``L`` registers of points, ended by
ID 0xFFFF. A point's value is raw x 10^SF, SF being a ``sunssf`` point of the same model.
Unimplemented points read as their type's "not implemented" value (0xFFFF, 0x8000 ...).

Point layouts (offsets from the model's ID register) follow the public SunSpec model
definitions (github.com/sunspec/models, json/model_1/701/704/705/711.json, checked against
commit 7abdf89): model 1 (common), 701 (DER AC measurement), 704 (DER AC controls), 705
(DER volt-var, NCrv curves of NPt points; curve 1 is read-only and shows the active
settings, a stored curve is made active by writing its index to ``AdptCrvReq``), 711 (DER
frequency droop, NCtl controls; control 1 read-only and active, ``AdptCtlReq``).
Conventions not stated by the model files and assumed here (verify against the device's
documentation): reactive power positive = injecting (over-excited), as IEEE 1547;
volt-var ``DeptRef`` VAR_MAX_PCT (1) with the var rating as 100 %.

Lab entry::

    [[stations.instruments]]
    name = "der-bx7"
    role = "der_settings"
    driver = "sunspec-der"
    resource = "192.168.10.30:502"
    charger = "gridline-bx7"
    options = { device_id = 1, base = 40000 }
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

from instruments.contracts import (
    DerMeasurements,
    DerSettings,
    FixedPowerFactor,
    FrequencyDroop,
    Identity,
    VoltVarCurve,
)
from instruments.registry import register_driver
from instruments.transports.modbus import ModbusTransport, is_exception_reply, option_int
from testbench.errors import InstrumentError
from testbench.lab.model import InstrumentSpec, SafetyLimits

MARKER = (0x5375, 0x6E53)  # "SunS"
END_ID = 0xFFFF
BASES = (40000, 0, 50000)
MAX_BLOCKS = 64

SIZES = {"u16": 1, "s16": 1, "e16": 1, "sf": 1, "pad": 1, "u32": 2, "s32": 2, "bf32": 2,
         "u64": 4}
NOT_IMPLEMENTED = {"u16": 0xFFFF, "e16": 0xFFFF, "s16": -0x8000, "sf": -0x8000,
                   "pad": -0x8000, "u32": 0xFFFFFFFF, "bf32": 0xFFFFFFFF, "s32": -0x80000000,
                   "u64": 0}
RANGES = {"u16": (0, 0xFFFE), "e16": (0, 0xFFFE), "s16": (-0x7FFF, 0x7FFF),
          "sf": (-10, 10), "u32": (0, 0xFFFFFFFE), "s32": (-0x7FFFFFFF, 0x7FFFFFFF),
          "bf32": (0, 0xFFFFFFFE), "u64": (0, 2**64 - 1), "pad": (-0x8000, 0x7FFF)}
"""Raw values a write may carry (the "not implemented" value excluded)."""

DISABLED, ENABLED = 0, 1
OVER_EXCITED, UNDER_EXCITED = 0, 1
VAR_MAX_PCT = 1
ADOPT_COMPLETED, ADOPT_FAILED = 1, 2


@dataclass(frozen=True)
class Point:
    """One point of a model: offset from the model's ID register, type, size, scale
    factor point (name in the same model), access."""

    name: str
    offset: int
    kind: str
    size: int
    sf: str | None = None
    writable: bool = False


PointDef = tuple[str, str, str | None, bool]  # name, kind ('str16' = string of 16), sf, rw


def _p(spec: str) -> list[PointDef]:
    """Points from ``"Name:kind[:SF][:rw] ..."``."""
    out: list[PointDef] = []
    for item in spec.split():
        parts = item.split(":")
        rw = parts[-1] == "rw"
        if rw:
            parts = parts[:-1]
        out.append((parts[0], parts[1], parts[2] if len(parts) > 2 else None, rw))
    return out


def _phase(n: int, ll: str) -> str:
    return (f"WL{n}:s16:W_SF VAL{n}:s16:VA_SF VarL{n}:s16:Var_SF PFL{n}:s16:PF_SF "
            f"AL{n}:s16:A_SF {ll}:u16:V_SF VL{n}:u16:V_SF TotWhInjL{n}:u64:TotWh_SF "
            f"TotWhAbsL{n}:u64:TotWh_SF TotVarhInjL{n}:u64:TotVarh_SF "
            f"TotVarhAbsL{n}:u64:TotVarh_SF ")


FIXED: dict[int, list[PointDef]] = {
    1: _p("ID:u16 L:u16 Mn:str16 Md:str16 Opt:str8 Vr:str8 SN:str16 DA:u16:rw Pad:pad"),
    701: _p("ID:u16 L:u16 ACType:e16 St:e16 InvSt:e16 ConnSt:e16 Alrm:bf32 DERMode:bf32 "
            "W:s16:W_SF VA:s16:VA_SF Var:s16:Var_SF PF:s16:PF_SF A:s16:A_SF LLV:u16:V_SF "
            "LNV:u16:V_SF Hz:u32:Hz_SF TotWhInj:u64:TotWh_SF TotWhAbs:u64:TotWh_SF "
            "TotVarhInj:u64:TotVarh_SF TotVarhAbs:u64:TotVarh_SF TmpAmb:s16:Tmp_SF "
            "TmpCab:s16:Tmp_SF TmpSnk:s16:Tmp_SF TmpTrns:s16:Tmp_SF TmpSw:s16:Tmp_SF "
            "TmpOt:s16:Tmp_SF " + _phase(1, "VL1L2") + _phase(2, "VL2L3") + _phase(3, "VL3L1")
            + "ThrotPct:u16 ThrotSrc:bf32 A_SF:sf V_SF:sf Hz_SF:sf W_SF:sf PF_SF:sf VA_SF:sf "
            "Var_SF:sf TotWh_SF:sf TotVarh_SF:sf Tmp_SF:sf MnAlrmInfo:str32"),
    704: _p("ID:u16 L:u16 PFWInjEna:e16:rw PFWInjEnaRvrt:e16:rw PFWInjRvrtTms:u32:rw "
            "PFWInjRvrtRem:u32 PFWAbsEna:e16:rw PFWAbsEnaRvrt:e16:rw PFWAbsRvrtTms:u32:rw "
            "PFWAbsRvrtRem:u32 WMaxLimPctEna:e16:rw WMaxLimPct:u16:WMaxLimPct_SF:rw "
            "WMaxLimPctRvrt:u16:WMaxLimPct_SF:rw WMaxLimPctEnaRvrt:e16:rw "
            "WMaxLimPctRvrtTms:u32:rw WMaxLimPctRvrtRem:u32 WSetEna:e16:rw WSetMod:e16:rw "
            "WSet:s32:WSet_SF:rw WSetRvrt:s32:WSet_SF:rw WSetPct:s16:WSetPct_SF:rw "
            "WSetPctRvrt:s16:WSetPct_SF:rw WSetEnaRvrt:e16:rw WSetRvrtTms:u32:rw "
            "WSetRvrtRem:u32 VarSetEna:e16:rw VarSetMod:e16:rw VarSetPri:e16:rw "
            "VarSet:s32:VarSet_SF:rw VarSetRvrt:s32:VarSet_SF:rw "
            "VarSetPct:s16:VarSetPct_SF:rw VarSetPctRvrt:s16:VarSetPct_SF:rw "
            "VarSetEnaRvrt:e16:rw VarSetRvrtTms:u32:rw VarSetRvrtRem:u32 WRmp:u16:rw "
            "WRmpRef:e16:rw VarRmp:u16:rw AntiIslEna:e16:rw PF_SF:sf WMaxLimPct_SF:sf "
            "WSet_SF:sf WSetPct_SF:sf VarSet_SF:sf VarSetPct_SF:sf "
            "PFWInj.PF:u16:PF_SF:rw PFWInj.Ext:e16:rw PFWInjRvrt.PF:u16:PF_SF:rw "
            "PFWInjRvrt.Ext:e16:rw PFWAbs.PF:u16:PF_SF:rw PFWAbs.Ext:e16:rw "
            "PFWAbsRvrt.PF:u16:PF_SF:rw PFWAbsRvrt.Ext:e16:rw"),
    705: _p("ID:u16 L:u16 Ena:e16:rw AdptCrvReq:u16:rw AdptCrvRslt:e16 NPt:u16 NCrv:u16 "
            "RvrtTms:u32:rw RvrtRem:u32 RvrtCrv:u16:rw V_SF:sf DeptRef_SF:sf RspTms_SF:sf"),
    711: _p("ID:u16 L:u16 Ena:e16:rw AdptCtlReq:u16:rw AdptCtlRslt:e16 NCtl:u16 "
            "RvrtTms:u32:rw RvrtRem:u32 RvrtCtl:u16:rw Db_SF:sf K_SF:sf RspTms_SF:sf"),
}
"""Fixed part of each model (every point of the SunSpec definition, in order)."""

CURVE_705 = _p("ActPt:u16:rw DeptRef:e16:rw Pri:e16:rw VRef:u16:V_SF:rw VRefAuto:u16:V_SF "
               "VRefAutoEna:e16:rw VRefAutoTms:u16:rw RspTms:u32:RspTms_SF:rw ReadOnly:e16")
POINT_705 = _p("V:u16:V_SF:rw Var:s16:DeptRef_SF:rw")
CONTROL_711 = _p("DbOf:u32:Db_SF:rw DbUf:u32:Db_SF:rw KOf:u16:K_SF:rw KUf:u16:K_SF:rw "
                 "RspTms:u32:RspTms_SF:rw PMin:s16:rw ReadOnly:e16")
MODEL_NAMES = {1: "common", 701: "DER AC measurement", 704: "DER AC controls",
               705: "DER volt-var", 711: "DER frequency droop"}


def _size(kind: str) -> int:
    return int(kind[3:]) if kind.startswith("str") else SIZES[kind]


def _append(points: dict[str, Point], defs: list[PointDef], prefix: str, offset: int) -> int:
    for name, kind, sf, rw in defs:
        size = _size(kind)
        points[prefix + name] = Point(prefix + name, offset, kind, size, sf, rw)
        offset += size
    return offset


def layout(model_id: int, counts: dict[str, int] | None = None) -> dict[str, Point]:
    """Points of a model by name (``Crv[2].Pt[1].V``, ``Ctl[1].KOf``: groups 1-based).

    ``counts`` gives the repeating groups' sizes (705: NCrv, NPt; 711: NCtl)."""
    if model_id not in FIXED:
        raise KeyError(f"SunSpec model {model_id} is not known to this driver; known: "
                       f"{', '.join(str(m) for m in FIXED)}")
    counts = counts or {}
    points: dict[str, Point] = {}
    offset = _append(points, FIXED[model_id], "", 0)
    if model_id == 705:
        for c in range(1, counts.get("NCrv", 0) + 1):
            offset = _append(points, CURVE_705, f"Crv[{c}].", offset)
            for n in range(1, counts.get("NPt", 0) + 1):
                offset = _append(points, POINT_705, f"Crv[{c}].Pt[{n}].", offset)
    elif model_id == 711:
        for c in range(1, counts.get("NCtl", 0) + 1):
            offset = _append(points, CONTROL_711, f"Ctl[{c}].", offset)
    return points


def model_length(model_id: int, counts: dict[str, int] | None = None) -> int:
    """``L`` of a model: registers after ID and L."""
    points = layout(model_id, counts)
    last = max(points.values(), key=lambda p: p.offset)
    return last.offset + last.size - 2


# ----------------------------------------------------------------------------- encoding
def encode(kind: str, raw: int | str) -> list[int]:
    """Registers of a raw value (strings: ASCII, NUL padded)."""
    if kind.startswith("str"):
        size = _size(kind)
        data = str(raw).encode("ascii")[: 2 * size].ljust(2 * size, b"\x00")
        return [int.from_bytes(data[2 * n:2 * n + 2], "big") for n in range(size)]
    size = SIZES[kind]
    value = int(raw) & ((1 << (16 * size)) - 1)
    return [(value >> (16 * (size - 1 - n))) & 0xFFFF for n in range(size)]


def decode(kind: str, words: list[int]) -> int | str:
    """The raw value of registers (signed types sign-extended)."""
    if kind.startswith("str"):
        data = b"".join(int(w).to_bytes(2, "big") for w in words)
        return data.split(b"\x00", 1)[0].decode("ascii", errors="replace").strip()
    value = 0
    for word in words:
        value = (value << 16) | (int(word) & 0xFFFF)
    bits = 16 * len(words)
    if kind in ("s16", "sf", "pad", "s32") and value >= 1 << (bits - 1):
        value -= 1 << bits
    return value


def is_implemented(kind: str, raw: int | str) -> bool:
    """False for the type's "not implemented" value."""
    return kind.startswith("str") or kind == "u64" or raw != NOT_IMPLEMENTED[kind]


# ----------------------------------------------------------------------------- driver
@dataclass(frozen=True)
class Block:
    """A model found on the device: id, address of its ID register, length L."""

    model_id: int
    address: int
    length: int


@register_driver("sunspec-der")
class SunSpecDer(DerSettings):
    """The bench writing and reading DER settings over SunSpec Modbus TCP."""

    def __init__(self, spec: InstrumentSpec, limits: SafetyLimits, *,
                 client: Any | None = None) -> None:
        self.name = spec.name
        self.limits = limits
        options = dict(spec.options)
        base = options.get("base")
        self._bases = BASES if base is None else (option_int(spec.name, options, "base", 40000),)
        self._mb = ModbusTransport(spec.name, spec.resource, timeout_s=spec.timeout_s,
                                   device_id=option_int(spec.name, options, "device_id", 1),
                                   client=client)
        self._blocks: dict[int, Block] | None = None
        self._layouts: dict[int, dict[str, Point]] = {}

    # ------------------------------------------------------------------ discovery
    def _error(self, command: str, reply: Any, why: str) -> InstrumentError:
        return InstrumentError(self.name, command, None if reply is None else repr(reply), why)

    def _find_base(self) -> int:
        tried = []
        for base in self._bases:
            try:
                words = self._mb.read_holding(base, 2)
            except InstrumentError as error:
                if not is_exception_reply(error):
                    raise
                tried.append(f"{base}: {error.reply}")
                continue
            if tuple(words) == MARKER:
                return base
            tried.append(f"{base}: {words[0]:#06x} {words[1]:#06x}")
        raise self._error("find SunSpec marker", "; ".join(tried),
                          "no 'SunS' marker at the SunSpec base addresses "
                          f"{', '.join(str(b) for b in self._bases)}; check the resource, "
                          "the unit id (options.device_id) and that SunSpec is enabled on "
                          "the device (options.base if it uses another base)")

    def discover(self) -> dict[int, Block]:
        """Walk the block chain from the marker to the end block: model id -> block.

        A chain that runs past the register space, repeats, or has no end block within
        ``MAX_BLOCKS`` models is a broken map (InstrumentError naming where it broke)."""
        if self._blocks is not None:
            return self._blocks
        base = self._find_base()
        address = base + 2
        blocks: dict[int, Block] = {}
        for _ in range(MAX_BLOCKS):
            command = f"read SunSpec block header at {address}"
            if address + 2 > 0x10000:
                raise self._error(command, None, "the SunSpec block chain runs past register "
                                  "65535 without an end block (0xFFFF); the device's map is "
                                  "broken")
            model_id, length = self._mb.read_holding(address, 2)
            if model_id == END_ID:
                break
            if model_id == 0 or length == 0 or address + 2 + length > 0x10000:
                raise self._error(command, [model_id, length],
                                  f"block at {address} has model id {model_id} and length "
                                  f"{length}: not a SunSpec block (garbage or a short map)")
            if model_id in FIXED:
                fixed = layout(model_id)
                least = max(p.offset + p.size for p in fixed.values()) - 2
                if length < least:
                    raise self._error(command, [model_id, length],
                                      f"model {model_id} ({MODEL_NAMES[model_id]}) at {address} "
                                      f"is {length} registers long, shorter than its fixed "
                                      f"part ({least}); the map is truncated")
            blocks.setdefault(model_id, Block(model_id, address, length))
            address += 2 + length
        else:
            raise self._error("walk SunSpec blocks", None,
                              f"no end block (0xFFFF) after {MAX_BLOCKS} models; the map is "
                              "broken or not SunSpec")
        if 1 not in blocks:
            raise self._error("walk SunSpec blocks", sorted(blocks),
                              "no common model (1) in the map: not a SunSpec device")
        self._blocks = blocks
        return blocks

    def models(self) -> list[int]:
        """Model ids the device offers, in map order."""
        return list(self.discover())

    def _block(self, model_id: int) -> Block:
        blocks = self.discover()
        if model_id not in blocks:
            raise self._error(f"model {model_id}", sorted(blocks),
                              f"the device offers no SunSpec model {model_id} "
                              f"({MODEL_NAMES.get(model_id, '?')}); it has "
                              f"{', '.join(str(m) for m in blocks)}")
        return blocks[model_id]

    def _layout(self, model_id: int) -> dict[str, Point]:
        if model_id not in self._layouts:
            block = self._block(model_id)
            counts: dict[str, int] = {}
            fixed = layout(model_id)
            for key in ("NCrv", "NPt", "NCtl"):
                if key in fixed:
                    counts[key] = int(self._raw(block, fixed[key]))
            points = layout(model_id, counts)
            end = max(p.offset + p.size for p in points.values()) - 2
            if end > block.length:
                raise self._error(f"model {model_id}", counts,
                                  f"model {model_id} declares {counts} but is only "
                                  f"{block.length} registers long ({end} needed)")
            self._layouts[model_id] = points
        return self._layouts[model_id]

    def _point(self, model_id: int, name: str) -> Point:
        points = self._layout(model_id)
        if name not in points:
            close = [p for p in points if p.split(".")[-1] == name.split(".")[-1]][:4]
            raise self._error(f"point {model_id}.{name}", None,
                              f"model {model_id} has no point {name!r}"
                              + (f"; did you mean {', '.join(close)}?" if close else ""))
        return points[name]

    # ------------------------------------------------------------------ raw access
    def _raw(self, block: Block, point: Point) -> int | str:
        return decode(point.kind, self._mb.read_holding(block.address + point.offset,
                                                        point.size))

    def _scale(self, model_id: int, point: Point) -> int:
        if point.sf is None:
            return 0
        sf_point = self._point(model_id, point.sf)
        sf = self._raw(self._block(model_id), sf_point)
        if not isinstance(sf, int) or not -10 <= sf <= 10:
            raise self._error(f"read {model_id}.{point.sf}", sf,
                              f"scale factor {point.sf} of {point.name} is {sf}, not a SunSpec "
                              "scale factor (-10..10)")
        return sf

    def read_point(self, model_id: int, name: str) -> float | int | str | None:
        """A point's value (raw x 10^SF); None when the device does not implement it."""
        point = self._point(model_id, name)
        raw = self._raw(self._block(model_id), point)
        if not is_implemented(point.kind, raw):
            return None
        if isinstance(raw, str) or point.sf is None:
            return raw
        sf = self._scale(model_id, point)
        return round(raw * 10.0 ** sf, -sf) if sf < 0 else float(raw * 10 ** sf)

    def write_point(self, model_id: int, name: str, value: float) -> None:
        """Write a point (value / 10^SF, rounded); refused before anything is sent when the
        point is read-only or the value does not fit the point."""
        point = self._point(model_id, name)
        command = f"write {model_id}.{name}"
        if not point.writable:
            raise self._error(command, None, f"point {name} of model {model_id} is read-only; "
                              "nothing sent")
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise self._error(command, None, f"{value!r} is not a finite number; nothing sent")
        sf = self._scale(model_id, point)
        raw = round(value / 10.0 ** sf)
        low, high = RANGES[point.kind]
        if not low <= raw <= high:
            raise self._error(command, None,
                              f"{value!r} is raw {raw} at scale factor {sf}, outside what a "
                              f"{point.kind} point holds ({low}..{high}); nothing sent")
        if abs(raw * 10.0 ** sf - value) > 0.5 * 10.0 ** sf + 1e-9:
            raise self._error(command, None, f"{value!r} cannot be written at scale factor "
                              f"{sf}; nothing sent")
        words = encode(point.kind, raw)
        address = self._block(model_id).address + point.offset
        if len(words) == 1:
            self._mb.write_register(address, words[0])
        else:
            self._mb.write_registers(address, words)

    # ------------------------------------------------------------------ typed settings
    def _check(self, command: str, ok: bool, why: str) -> None:
        if not ok:
            raise self._error(command, None, why + "; nothing sent")

    def set_fixed_pf(self, pf: float, *, under_excited: bool, enabled: bool = True) -> None:
        """Fixed cos phi while injecting active power (704 PFWInj), then its enable."""
        self._check("set_fixed_pf", math.isfinite(pf) and 0.0 < pf <= 1.0,
                    f"power factor {pf!r} must be in (0, 1]")
        if enabled:
            self.write_point(704, "VarSetEna", DISABLED)
        self.write_point(704, "PFWInj.PF", pf)
        self.write_point(704, "PFWInj.Ext", UNDER_EXCITED if under_excited else OVER_EXCITED)
        self.write_point(704, "PFWInjEna", ENABLED if enabled else DISABLED)

    def read_fixed_pf(self) -> FixedPowerFactor:
        """The fixed cos phi the device holds (704 PFWInj) and whether it is enabled."""
        pf = self.read_point(704, "PFWInj.PF")
        ext = self.read_point(704, "PFWInj.Ext")
        return FixedPowerFactor(None if pf is None else float(pf), ext == UNDER_EXCITED,
                                self.read_point(704, "PFWInjEna") == ENABLED)

    def set_fixed_var_pct(self, pct: float, *, enabled: bool = True) -> None:
        """Fixed Q in % of the var rating (+ injecting), 704 VarSetPct (mode VAR_MAX_PCT)."""
        self._check("set_fixed_var_pct", math.isfinite(pct) and -100.0 <= pct <= 100.0,
                    f"reactive power {pct!r} % must be within -100..100 % of the var rating")
        if enabled:
            self.write_point(704, "PFWInjEna", DISABLED)
        self.write_point(704, "VarSetMod", VAR_MAX_PCT)
        self.write_point(704, "VarSetPct", pct)
        self.write_point(704, "VarSetEna", ENABLED if enabled else DISABLED)

    def read_fixed_var_pct(self) -> tuple[float | None, bool]:
        """(VarSetPct, enabled) of model 704."""
        pct = self.read_point(704, "VarSetPct")
        return (None if pct is None else float(pct),
                self.read_point(704, "VarSetEna") == ENABLED)

    def _stored(self, model_id: int, count_key: str, group: str) -> int:
        """Index of the first writable stored curve/control (1 is the active, read-only)."""
        count = int(self.read_point(model_id, count_key) or 0)
        if count < 2:
            raise self._error(f"model {model_id}", count,
                              f"model {model_id} has {count} stored {group}s: none writable "
                              "besides the active one")
        return 2

    def set_volt_var(self, curve: VoltVarCurve, *, enabled: bool = True) -> None:
        """Write ``curve`` to stored curve 2 of model 705, adopt it, and enable volt-var."""
        n_pt = int(self.read_point(705, "NPt") or 0)
        pts = curve.points
        self._check("set_volt_var", 2 <= len(pts) <= n_pt,
                    f"a volt-var curve needs 2..{n_pt} points (the device's NPt), got {len(pts)}")
        self._check("set_volt_var", all(b[0] > a[0] for a, b in itertools.pairwise(pts)),
                    "the curve's voltages must increase from point to point")
        self._check("set_volt_var", all(0 < v <= 200 and -100 <= q <= 100 for v, q in pts),
                    "voltages must be in (0, 200] % of nominal and Q within -100..100 %")
        self._check("set_volt_var", curve.response_time_s is None
                    or 0 <= curve.response_time_s <= 3600,
                    f"response time {curve.response_time_s!r} s must be in 0..3600 s")
        index = self._stored(705, "NCrv", "curve")
        crv = f"Crv[{index}]"
        self.write_point(705, f"{crv}.ActPt", len(pts))
        self.write_point(705, f"{crv}.DeptRef", VAR_MAX_PCT)
        for n, (v, q) in enumerate(pts, start=1):
            self.write_point(705, f"{crv}.Pt[{n}].V", v)
            self.write_point(705, f"{crv}.Pt[{n}].Var", q)
        if curve.response_time_s is not None:
            self.write_point(705, f"{crv}.RspTms", curve.response_time_s)
        self._adopt(705, "AdptCrvReq", "AdptCrvRslt", index)
        self.write_point(705, "Ena", ENABLED if enabled else DISABLED)

    def _adopt(self, model_id: int, request: str, result: str, index: int) -> None:
        self.write_point(model_id, request, index)
        outcome = self.read_point(model_id, result)
        if outcome != ADOPT_COMPLETED:
            raise self._error(f"write {model_id}.{request} = {index}", outcome,
                              f"the device did not adopt stored set {index} (result "
                              f"{outcome}: 0 in progress, 2 failed); its active settings are "
                              "unchanged")

    def read_volt_var(self) -> tuple[VoltVarCurve, bool]:
        """The active volt-var curve (705 curve 1) and whether volt-var is enabled."""
        act = int(self.read_point(705, "Crv[1].ActPt") or 0)
        pts = tuple((float(self.read_point(705, f"Crv[1].Pt[{n}].V") or 0.0),
                     float(self.read_point(705, f"Crv[1].Pt[{n}].Var") or 0.0))
                    for n in range(1, act + 1))
        rsp = self.read_point(705, "Crv[1].RspTms")
        return (VoltVarCurve(pts, None if rsp is None else float(rsp)),
                self.read_point(705, "Ena") == ENABLED)

    def set_freq_droop(self, droop: FrequencyDroop, *, enabled: bool = True) -> None:
        """Write ``droop`` to stored control 2 of model 711, adopt it, enable it."""
        for name, value, low, high in (("DbOf", droop.db_of_hz, 0, 5), ("DbUf", droop.db_uf_hz,
                                                                        0, 5),
                                       ("KOf", droop.k_of, 0.001, 1), ("KUf", droop.k_uf,
                                                                       0.001, 1),
                                       ("RspTms", droop.response_time_s, 0, 3600)):
            self._check("set_freq_droop", math.isfinite(value) and low <= value <= high,
                        f"{name} = {value!r} is outside {low}..{high}")
        index = self._stored(711, "NCtl", "control")
        ctl = f"Ctl[{index}]"
        self.write_point(711, f"{ctl}.DbOf", droop.db_of_hz)
        self.write_point(711, f"{ctl}.DbUf", droop.db_uf_hz)
        self.write_point(711, f"{ctl}.KOf", droop.k_of)
        self.write_point(711, f"{ctl}.KUf", droop.k_uf)
        self.write_point(711, f"{ctl}.RspTms", droop.response_time_s)
        self._adopt(711, "AdptCtlReq", "AdptCtlRslt", index)
        self.write_point(711, "Ena", ENABLED if enabled else DISABLED)

    def read_freq_droop(self) -> tuple[FrequencyDroop, bool]:
        """The active frequency droop (711 control 1) and whether it is enabled."""
        values = [self.read_point(711, f"Ctl[1].{n}") for n in ("DbOf", "DbUf", "KOf", "KUf",
                                                                "RspTms")]
        floats = [float(v) if v is not None else math.nan for v in values]
        return FrequencyDroop(*floats), self.read_point(711, "Ena") == ENABLED

    def read_measurements(self) -> DerMeasurements:
        """Model 701 as the device reports it (W and var: + injecting)."""
        def value(name: str) -> float | None:
            v = self.read_point(701, name)
            return None if v is None else float(v)
        return DerMeasurements(value("W"), value("Var"), value("PF"), value("Hz"),
                               value("LNV"))

    # ------------------------------------------------------------------ contract
    def identify(self) -> Identity:
        """Model 1: manufacturer, model, serial number, version."""
        texts = [self.read_point(1, n) for n in ("Mn", "Md", "SN", "Vr")]
        return Identity(*(str(t or "unknown") for t in texts))

    def safe_state(self) -> None:
        """No setting left behind: fixed cos phi, fixed Q and volt-var disabled (the unit
        runs at unity power factor). The frequency droop is left as it is."""
        for model_id, name in ((704, "PFWInjEna"), (704, "VarSetEna"), (705, "Ena")):
            if model_id in self.discover():
                self.write_point(model_id, name, DISABLED)

    def close(self) -> None:
        self._mb.close()

