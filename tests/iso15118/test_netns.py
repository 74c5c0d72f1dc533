"""Veth links per pairing: addressed and up, isolated, and always removed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from testbench.iso15118.netns import (
    PREFIX,
    V2GLink,
    create_link,
    list_namespaces,
    remove_leftovers,
    v2g_link,
)


def _iface(ns: str, iface: str) -> dict:
    out = subprocess.run(["ip", "-n", ns, "-j", "addr", "show", "dev", iface],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]


def test_each_end_has_its_link_local_address_and_is_up(netns_ready):
    with v2g_link() as link:
        for ns, iface, addr in ((link.secc_netns, link.secc_iface, link.secc_addr),
                                (link.evcc_netns, link.evcc_iface, link.evcc_addr)):
            info = _iface(ns, iface)
            assert info["operstate"] == "UP", info
            local = [(a["local"], a["scope"]) for a in info["addr_info"] if a["family"] == "inet6"]
            assert local == [(addr, "link")], info
            lo = _iface(ns, "lo")
            assert "UP" in lo["flags"], "loopback must be up (the EXI codec's Java gateway uses it)"
        assert link.exists()
    assert not link.exists()
    assert link.secc_netns not in list_namespaces()


def test_links_of_two_pairings_coexist_and_are_removed_separately(netns_ready):
    with v2g_link() as first, v2g_link() as second:
        assert {first.secc_netns, first.evcc_netns}.isdisjoint({second.secc_netns, second.evcc_netns})
        first.remove()
        assert not first.exists()
        assert second.exists()
        first.remove()  # idempotent
    assert not second.exists()


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_leftovers_of_a_dead_process_are_removed_and_live_links_kept(netns_ready):
    stale = f"{PREFIX}-{_dead_pid()}-7-secc"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    try:
        with v2g_link() as live:
            # create_link() already swept it; a second sweep finds nothing and keeps `live`
            assert stale not in list_namespaces()
            assert remove_leftovers() == []
            assert live.exists()
    finally:
        subprocess.run(["ip", "netns", "delete", stale], check=False, capture_output=True)


_CHILD = """
import subprocess, sys, time
from testbench.iso15118.netns import create_link, v2g_link
plain = create_link()            # removed at exit (atexit)
with v2g_link() as scoped:       # removed when Ctrl-C unwinds the block
    # an emulator stand-in that outlives a killed bench
    sleeper = subprocess.Popen(["ip", "netns", "exec", scoped.secc_netns, "sleep", "60"],
                               start_new_session=True)
    print(plain.secc_netns, plain.evcc_netns, scoped.secc_netns, scoped.evcc_netns,
          sleeper.pid, flush=True)
    time.sleep(60)
"""


def _start_child() -> tuple[subprocess.Popen[str], list[str]]:
    child = subprocess.Popen([sys.executable, "-c", _CHILD], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    assert child.stdout is not None
    line = child.stdout.readline()
    if not line:
        pytest.fail(f"child did not create its links: {child.stderr.read() if child.stderr else ''}")
    *names, sleeper = line.split()
    return child, names, int(sleeper)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is not alive
        return f.read().split()[2] != "Z"


def test_ctrl_c_and_exit_remove_every_link_of_the_process(netns_ready):
    child, names, sleeper = _start_child()
    assert set(names) <= set(list_namespaces())
    child.send_signal(signal.SIGINT)
    child.wait(timeout=20)
    assert set(names).isdisjoint(list_namespaces())
    assert not _alive(sleeper), "what ran inside a removed link must be gone"


def test_links_of_a_killed_process_are_swept_by_the_next_creation(netns_ready):
    child, names, sleeper = _start_child()
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=20)
    time.sleep(0.1)
    assert set(names) <= set(list_namespaces()), "SIGKILL cannot clean up: leftovers expected"
    assert _alive(sleeper)
    link: V2GLink = create_link()
    try:
        assert set(names).isdisjoint(list_namespaces())
        deadline = time.monotonic() + 5
        while _alive(sleeper) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(sleeper), "the sweep must kill what ran in a stale link"
    finally:
        link.remove()
