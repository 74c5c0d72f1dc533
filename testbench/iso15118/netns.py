"""A private Ethernet link per EV x charger pairing: two network namespaces joined by a veth.

ISO 15118 needs an interface with an IPv6 link-local address (SDP is UDP multicast to
``ff02::1`` on the interface, then TCP to the SECC's link-local address); loopback does not
work, and the package's SECC binds UDP port 15118 once per interface. So each pairing gets

    netns <prefix>-<pid>-<n>-secc : veth "v2g-secc" fe80::1/64  <---->  netns ...-evcc : "v2g-ev" fe80::2/64

with loopback up in both (the EXI codec's Java gateway talks to Python over 127.0.0.1).
Addresses are static and added with ``nodad``, so the link is usable at once. Removing a
namespace removes its veth end, and with it the pair.

Links are removed by :meth:`V2GLink.remove`, by the context manager, at interpreter exit
(atexit), and, if a previous run was killed (SIGKILL, power cut), by
:func:`remove_leftovers` on the next creation: names carry the creating process id, and
namespaces whose process is gone are deleted, after killing any emulator still running
inside (a killed bench cannot stop its children). Needs root or CAP_NET_ADMIN and iproute2.
"""

from __future__ import annotations

import atexit
import itertools
import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from testbench.errors import BenchError

PREFIX = "tbv2g"
SECC_IFACE = "v2g-secc"
EVCC_IFACE = "v2g-ev"
SECC_ADDR = "fe80::1"
EVCC_ADDR = "fe80::2"

_NAME = re.compile(rf"^{PREFIX}-(\d+)-(\d+)-(secc|evcc)$")
_counter = itertools.count(1)
_live: dict[str, V2GLink] = {}
_lock = threading.Lock()
_atexit_registered = False


@dataclass(frozen=True)
class V2GLink:
    """One pairing's link: where to run the SECC and the EVCC, and on which interface."""

    tag: str
    secc_netns: str
    evcc_netns: str
    secc_iface: str = SECC_IFACE
    evcc_iface: str = EVCC_IFACE
    secc_addr: str = SECC_ADDR
    evcc_addr: str = EVCC_ADDR

    def remove(self) -> None:
        """Kill what still runs inside, delete both namespaces (and so the veth pair).
        Safe to call twice."""
        with _lock:
            _live.pop(self.tag, None)
        for ns in (self.secc_netns, self.evcc_netns):
            _delete_namespace(ns)

    def exists(self) -> bool:
        """True while both namespaces exist."""
        names = list_namespaces()
        return self.secc_netns in names and self.evcc_netns in names


def _ip(*args: str, check: bool = True, timeout_s: float = 10.0) -> subprocess.CompletedProcess[str]:
    ip = shutil.which("ip")
    if ip is None:
        raise BenchError("the 'ip' command (iproute2) is not installed; "
                         "install it (apt-get install iproute2) to create V2G links")
    proc = subprocess.run([ip, *args], check=False, capture_output=True, text=True,
                          timeout=timeout_s)
    if check and proc.returncode != 0:
        raise BenchError(f"'ip {' '.join(args)}' failed ({proc.returncode}): "
                         f"{proc.stderr.strip() or proc.stdout.strip()}. Creating V2G links needs "
                         "root or CAP_NET_ADMIN; run the bench as root or grant the capability")
    return proc


def _delete_namespace(name: str) -> None:
    """SIGKILL the processes inside ``name`` (a namespace lives on while they do), delete it."""
    pids = _ip("netns", "pids", name, check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, PermissionError, ValueError):
            pass
    _ip("netns", "delete", name, check=False)


def list_namespaces() -> list[str]:
    """Names of the network namespaces that ``ip netns`` knows."""
    proc = _ip("netns", "list", check=False)
    return [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers() -> list[str]:
    """Delete bench namespaces whose creating process is gone; return their names."""
    removed = []
    for name in list_namespaces():
        match = _NAME.match(name)
        if match is None:
            continue
        pid = int(match.group(1))
        if pid == os.getpid() or _pid_alive(pid):
            continue
        _delete_namespace(name)
        removed.append(name)
    return removed


def remove_all_own() -> None:
    """Remove every link this process created (registered with atexit)."""
    with _lock:
        links = list(_live.values())
    for link in links:
        link.remove()


def _register_atexit() -> None:
    global _atexit_registered
    with _lock:
        if not _atexit_registered:
            atexit.register(remove_all_own)
            _atexit_registered = True


def create_link(tag: str | None = None) -> V2GLink:
    """Create a fresh veth link between two new namespaces (see the module docstring).

    ``tag`` names the link (namespaces ``<tag>-secc`` and ``<tag>-evcc``) for a link others
    must find by name (a simulated charger's SECC; the EV emulator is told the name in the
    lab file); an existing link of that name is replaced. Default: a unique name.
    """
    _register_atexit()
    remove_leftovers()
    if tag is None:
        tag = f"{PREFIX}-{os.getpid()}-{next(_counter)}"
    elif not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,40}", tag):
        raise BenchError(f"V2G link name {tag!r}: use 1-41 letters, digits, '.', '_' or '-'")
    link = V2GLink(tag=tag, secc_netns=f"{tag}-secc", evcc_netns=f"{tag}-evcc")
    existing = list_namespaces()
    for ns in (link.secc_netns, link.evcc_netns):
        if ns in existing:
            _delete_namespace(ns)
    with _lock:
        _live[tag] = link
    try:
        _ip("netns", "add", link.secc_netns)
        _ip("netns", "add", link.evcc_netns)
        _ip("link", "add", "name", link.secc_iface, "netns", link.secc_netns, "type", "veth",
            "peer", "name", link.evcc_iface, "netns", link.evcc_netns)
        for ns, iface, addr in ((link.secc_netns, link.secc_iface, link.secc_addr),
                                (link.evcc_netns, link.evcc_iface, link.evcc_addr)):
            _ip("-n", ns, "link", "set", "lo", "up")
            # no automatic link-local address: a static one, usable at once (no DAD)
            _ip("-n", ns, "link", "set", iface, "addrgenmode", "none")
            _ip("-n", ns, "addr", "add", f"{addr}/64", "dev", iface, "nodad")
            _ip("-n", ns, "link", "set", iface, "up")
    except BaseException:
        link.remove()
        raise
    return link


@contextmanager
def v2g_link() -> Iterator[V2GLink]:
    """``with v2g_link() as link:`` a link for one pairing, removed on exit (also on Ctrl-C)."""
    link = create_link()
    try:
        yield link
    finally:
        link.remove()


def netns_problem() -> str | None:
    """Why V2G links cannot be created here (None when they can): checked by a real attempt."""
    if shutil.which("ip") is None:
        return "the 'ip' command (iproute2) is not installed"
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        probe = subprocess.run(["ip", "netns", "add", f"{PREFIX}-{os.getpid()}-0-secc"],
                               check=False, capture_output=True, text=True, timeout=10)
        if probe.returncode != 0:
            return ("creating network namespaces needs root or CAP_NET_ADMIN "
                    f"({probe.stderr.strip()})")
        _ip("netns", "delete", f"{PREFIX}-{os.getpid()}-0-secc", check=False)
        return None
    try:
        with v2g_link():
            pass
    except (BenchError, OSError, subprocess.SubprocessError) as exc:
        return f"cannot create a veth pair between network namespaces: {exc}"
    return None
