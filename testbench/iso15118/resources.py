"""Where an ISO 15118 emulator runs, named in a lab file, and the lab's protocol names.

An EV emulator (``driver = "iso15118-evcc"``) names its interface in ``resource``:

* ``iface:<interface>``: an interface of this host (in a lab: the PLC modem's, e.g.
  ``iface:eth1``);
* ``netns:<tag>-evcc/<interface>``: an interface inside a network namespace. The simulated
  lab hosts the charger's SECC on the other end of the veth link ``<tag>``
  (:func:`testbench.iso15118.create_link`), e.g. ``netns:tbsim-gridline-evcc/v2g-ev``.

Lab files list protocols as ``"-2"``, ``"-20"``, ``"DIN"``; the package names them
``ISO_15118_2``, ``ISO_15118_20_AC``/``_DC``, ``DIN_SPEC_70121``.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from testbench.errors import BenchError

_NETNS = re.compile(r"^netns:([A-Za-z0-9][A-Za-z0-9_.-]{0,40})-evcc/([A-Za-z0-9_.-]{1,15})$")
_IFACE = re.compile(r"^iface:([A-Za-z0-9_.@-]{1,15})$")

#: Lab protocol names, best first (the order an EV offers them in).
LAB_PROTOCOLS = ("-20", "-2", "DIN")


@dataclass(frozen=True)
class V2GInterface:
    """The interface an emulator uses, and its network namespace (None: the host's)."""

    iface: str
    netns: str | None = None
    tag: str | None = None


def parse_resource(resource: str) -> V2GInterface:
    """The interface a ``resource`` names (BenchError saying the accepted forms)."""
    text = resource.strip()
    match = _NETNS.match(text)
    if match:
        return V2GInterface(iface=match.group(2), netns=f"{match.group(1)}-evcc",
                            tag=match.group(1))
    match = _IFACE.match(text)
    if match:
        return V2GInterface(iface=match.group(1))
    raise BenchError(f"ISO 15118 resource {resource!r}: use 'iface:<interface>' (e.g. the PLC "
                     "modem's, iface:eth1) or 'netns:<tag>-evcc/<interface>' (a simulated "
                     "lab's link, e.g. netns:tbsim-gridline-evcc/v2g-ev)")


def link_tag_of(resource: str) -> str:
    """The veth link name of a ``netns:`` resource (BenchError for other forms)."""
    where = parse_resource(resource)
    if where.tag is None:
        raise BenchError(f"ISO 15118 resource {resource!r} is a host interface; the simulated "
                         "lab needs 'netns:<tag>-evcc/v2g-ev' to host the charger's SECC")
    return where.tag


def pki_dir_for(tag: str) -> Path:
    """The test PKI shared by both ends of the simulated link ``tag`` (made by the lab)."""
    return Path(tempfile.gettempdir()) / "testbench-v2g" / tag / "pki"


def package_protocol(lab_name: str, current_type: str) -> str:
    """The package's protocol name for a lab protocol name on an AC or DC charger."""
    if lab_name == "-2":
        return "ISO_15118_2"
    if lab_name == "-20":
        return "ISO_15118_20_DC" if current_type.upper() == "DC" else "ISO_15118_20_AC"
    if lab_name.upper() == "DIN":
        return "DIN_SPEC_70121"
    raise BenchError(f"unknown ISO 15118 protocol {lab_name!r}; use {', '.join(LAB_PROTOCOLS)}")


def ordered(lab_names: tuple[str, ...] | list[str]) -> list[str]:
    """Lab protocol names best first (-20, -2, DIN)."""
    known = [p for p in LAB_PROTOCOLS if p in lab_names or p.lower() in
             [n.lower() for n in lab_names]]
    return known


def secc_protocols(lab_names: tuple[str, ...] | list[str], current_type: str) -> tuple[str, ...]:
    """What a charger's SECC supports, as package names (DIN only on DC chargers)."""
    names = [p for p in ordered(lab_names) if not (p == "DIN" and current_type.upper() != "DC")]
    return tuple(package_protocol(p, current_type) for p in names)


def common_protocols(ev: tuple[str, ...] | list[str], charger: tuple[str, ...] | list[str],
                     current_type: str) -> list[str]:
    """Lab protocol names both support, best first (DIN only on DC)."""
    theirs = set(ordered(charger))
    return [p for p in ordered(ev) if p in theirs
            and not (p == "DIN" and current_type.upper() != "DC")]
