"""`testbench certify`: certify a charger's new firmware against its current one.

::

    testbench certify --charger voltiq-w22 --firmware fw-3.5.0.tar [--lab lab.toml]
                      [--suites suites/ocpp ...] [--ev ev-city] [--signature sig.b64
                      --signing-cert cert.pem] [--version 3.5.0]

1. **before**: run the suites on the charger as it is (a normal run, its own run id);
2. **update**: start the bench, publish the image on the file server, send UpdateFirmware
   (2.x: signed; with the given signature and certificate, else, in a simulated lab, with a
   per-campaign signing identity) and follow it over the wire to the BootNotification
   announcing the new version;
3. **after**: run the same suites again, the bench expecting the new firmware
   (``--charger-firmware``: the boot test compares against it, results are recorded under it);
4. **compare** the two runs in the results store: regressions, fixes, still failing,
   newly applicable, unchanged. Exit status 1 on any regression or when the update itself
   failed, 2 on bad input (missing or unreadable image, signature or certificate), 0 else.

Simulated lab: the image is the simulated lab's format (testbench/firmware/image.py; build
one with ``testbench firmware-image``). Its manifest names the version and, optionally, the
fault personalities of the new firmware (``faults``: replaces the charger's faults, ``[]``
fixes them all) - that is how a regression or a fix is injected. The simulated chargers of
a campaign keep what they installed across the three steps (``TESTBENCH_SIM_FLASH_DIR``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from testbench.errors import BenchError, LabConfigError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
FLASH_DIR_ENV = "TESTBENCH_SIM_FLASH_DIR"  # read by the simulated lab (testbench.sim.firmware)
UPDATE_TIMEOUT_S = 600.0
REBOOT_TIMEOUT_S = 300.0


class CertifyError(Exception):
    """Bad input: the message says what is wrong and how to fix it."""


@dataclass
class UpdateInput:
    """The firmware to install and how it is signed."""

    path: Path
    data: bytes
    version: str
    signature: str | None = None
    certificate: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class UpdateOutcome:
    """How the update step ended."""

    ok: bool
    verdict: str
    before_version: str | None = None
    statuses: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------ input
def read_update_input(args: argparse.Namespace, lab: Any, charger: Any,
                      campaign_dir: Path) -> UpdateInput:
    """Check the image, version, signature and certificate; CertifyError saying what is off."""
    from testbench.firmware.image import ImageError, read_manifest
    from testbench.firmware.signing import (
        SignatureError,
        SigningIdentity,
        decode_signature,
        load_certificate,
    )

    path = Path(args.firmware)
    if not path.is_file():
        raise CertifyError(f"firmware image {path} does not exist (or is not a file); give the "
                           "path of the image to install with --firmware")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CertifyError(f"cannot read firmware image {path}: {error.strerror or error}") \
            from None
    if not data:
        raise CertifyError(f"firmware image {path} is empty")
    version = args.version
    notes: list[str] = []
    if lab.is_sim:
        try:
            manifest = read_manifest(data)
        except ImageError as error:
            raise CertifyError(f"{path} is not a simulated-lab firmware image: {error}; build "
                               "one with `testbench firmware-image`") from None
        if version is not None and version != manifest.version:
            raise CertifyError(f"--version {version} but image {path} installs "
                               f"{manifest.version}; drop --version or fix it")
        version = manifest.version
        if manifest.faults is not None:
            notes.append("the image sets the charger's fault personalities to "
                         + (", ".join(manifest.faults) or "none"))
    elif not version:
        raise CertifyError("a real charger's image cannot be read by the bench: give the "
                           "version it installs with --version (what the charger must "
                           "announce after the update)")
    signature = certificate = None
    if args.signature or args.signing_cert:
        if not (args.signature and args.signing_cert):
            raise CertifyError("a signed update needs both --signature and --signing-cert")
        try:
            signature = Path(args.signature).read_text(encoding="ascii").strip()
            decode_signature(signature)
        except (OSError, UnicodeDecodeError) as error:
            raise CertifyError(f"cannot read signature file {args.signature}: {error}") \
                from None
        except SignatureError as error:
            raise CertifyError(f"unreadable signature in {args.signature}: {error} (expected "
                               "the base64 signature of the image)") from None
        try:
            certificate = Path(args.signing_cert).read_text(encoding="ascii")
            load_certificate(certificate)
        except (OSError, UnicodeDecodeError) as error:
            raise CertifyError(f"cannot read signing certificate {args.signing_cert}: "
                               f"{error}") from None
        except SignatureError as error:
            raise CertifyError(f"unreadable signing certificate in {args.signing_cert}: "
                               f"{error}") from None
    elif charger.ocpp_version != "1.6" and lab.is_sim:
        identity = SigningIdentity.load_or_create(campaign_dir / "firmware-signing")
        signature, certificate = identity.sign(data), identity.certificate_pem
        notes.append("signed with the campaign's own signing identity (simulated lab)")
    elif charger.ocpp_version != "1.6":
        notes.append("no --signature/--signing-cert: sending an unsigned update")
    if charger.ocpp_version == "1.6" and signature is not None:
        notes.append("OCPP 1.6 UpdateFirmware carries no signature: it is not sent")
        signature = certificate = None
    return UpdateInput(path, data, str(version), signature, certificate, notes)


# ------------------------------------------------------------------------ runs
def _pytest_args(args: argparse.Namespace, lab_path: Path, targets: list[str], run_id: str,
                 allure_dir: Path, *, clean_allure: bool,
                 firmware: str | None) -> list[str]:
    plugin_ini = Path(__file__).parent / "plugin" / "pytest-run.ini"
    first = Path(targets[0].split("::")[0])
    rootdir = first.resolve().parent if first.is_dir() else Path.cwd()
    argv = [*targets, "--lab", str(lab_path), "--run-id", run_id, "--testbench-live",
            "-p", "no:terminal", "-c", str(plugin_ini), "--rootdir", str(rootdir),
            "--alluredir", str(allure_dir), "--charger", args.charger]
    if clean_allure:
        argv.append("--clean-alluredir")
    for ev in args.ev:
        argv += ["--ev", ev]
    if args.unattended:
        argv.append("--unattended")
    if args.k:
        argv += ["-k", args.k]
    if firmware is not None:
        argv += ["--charger-firmware", f"{args.charger}={firmware}"]
    return argv


def run_suites(argv: list[str], env: dict[str, str]) -> int:
    """Run pytest with the testbench plugin in a child process; its exit status."""
    proc = subprocess.run([sys.executable, "-m", "pytest", *argv], env=env, check=False)
    return proc.returncode


def _run_step(console: Console, name: str, argv: list[str], env: dict[str, str],
              journal: Path) -> str | None:
    """Run one suite pass; None when it produced verdicts, else why it could not run."""
    console.rule(f"[bold]{name}")
    code = run_suites(argv, env)
    if code in (2,) and not journal.exists():
        return "interrupted"
    if code not in (0, 1) or not journal.exists():
        return (f"the {name} run could not run (pytest exit status {code}); see the messages "
                "above")
    return None


# ------------------------------------------------------------------------ update
def update_charger(lab: Any, charger_id: str, update: UpdateInput, run_dir: Path, *,
                   update_timeout_s: float, reboot_timeout_s: float) -> UpdateOutcome:
    """Start the bench, install ``update`` on the charger over OCPP and judge it from the wire."""
    from testbench.csms.failures import CallErrorReceived, CallTimeout, ConnectionLost
    from testbench.plugin.runtime import BenchRuntime
    from testbench.procedures import firmware as fw
    from testbench.procedures.ocpp import boot_identity

    runtime = BenchRuntime(lab, run_dir)
    try:
        try:
            runtime.start()
        except BenchError as error:
            return UpdateOutcome(False, f"the bench could not start for the update: {error}")
        handle = runtime.csms.charger(charger_id)
        clock = runtime.clock
        payload = handle.state.boot_payload
        before = boot_identity(handle, payload)[2] if payload else None
        stored = runtime.files.publish(update.path.name, update.data)
        url = runtime.files.download_url(stored)
        handle.mark()
        request_id = fw.new_request_id()
        try:
            status = fw.request_update(handle, clock, url, request_id=request_id,
                                       certificate=update.certificate,
                                       signature=update.signature, retries=1,
                                       retry_interval_s=10)
        except (CallErrorReceived, CallTimeout, ConnectionLost, BenchError) as error:
            return UpdateOutcome(False, f"UpdateFirmware failed: {error}", before)
        if status != "Accepted":
            return UpdateOutcome(False, f"the charger answered UpdateFirmware with {status}",
                                 before)
        report = fw.follow_update(handle, clock, update_timeout_s, request_id=request_id,
                                  reboot_within_s=reboot_timeout_s)
        outcome = report.outcome
        if outcome == "Installed" and report.boot is None:
            verdict = (f"the charger reported Installed but did not come back within "
                       f"{reboot_timeout_s:g} s ({report.describe()})")
        elif outcome is None and "Installing" in report.statuses and report.boot is None:
            verdict = (f"the charger started installing and never came back: no "
                       f"BootNotification within {reboot_timeout_s:g} s ({report.describe()})")
        elif outcome is None:
            verdict = f"the update did not finish ({report.describe()})"
        elif outcome != "Installed":
            verdict = f"the charger reported {outcome} ({report.describe()})"
        elif report.announced_version != update.version:
            verdict = (f"the charger reported Installed but announced firmware "
                       f"{report.announced_version!r} after the reboot, not {update.version!r}")
        else:
            if not fw.wait_reconnected(handle, clock, reboot_timeout_s):
                return UpdateOutcome(False, "the charger went off line after the update",
                                     before, report.statuses)
            return UpdateOutcome(True, f"installed: the charger announced firmware "
                                 f"{report.announced_version} ({report.describe()})",
                                 before, report.statuses)
        return UpdateOutcome(False, verdict, before, report.statuses)
    finally:
        runtime.close()


# ------------------------------------------------------------------------ compare
def compare_runs(output_dir: Path, charger_id: str, before_run: str, after_run: str,
                 before_label: str, after_label: str) -> Any:
    """The firmware diff of the two runs, from the results store (journals as a fallback)."""
    from testbench.results.db import StoreError
    from testbench.results.diff import compare
    from testbench.results.journal import read_journal
    from testbench.results.query import ResultFilter
    from testbench.results.store import default_store_location, open_store

    sides = []
    source = "results store"
    try:
        with open_store(default_store_location(output_dir)) as store:
            for run_id in (before_run, after_run):
                filt = ResultFilter(runs=[run_id]).with_condition("r.charger = ?", charger_id)
                sides.append(store.results(filt, absolute_evidence=True))
            source = f"results store {store.location}"
    except StoreError:
        sides = []
    if len(sides) != 2 or not all(sides):
        source = "run journals"
        sides = []
        for run_id in (before_run, after_run):
            content = read_journal(output_dir / "runs" / run_id / "journal.jsonl")
            sides.append([r for r in content.records if r.charger == charger_id])
    diff = compare(sides[0], sides[1], kind="firmware", before_label=before_label,
                   after_label=after_label, charger=charger_id)
    diff.meta.update({"source": source, "before_run": before_run, "after_run": after_run})
    return diff


# ------------------------------------------------------------------------ command
def cmd_certify(args: argparse.Namespace, console: Console) -> int:
    from testbench.lab.loader import load_lab
    from testbench.results.journal import new_run_id

    lab_path = Path(args.lab).resolve()
    try:
        lab = load_lab(lab_path)
    except LabConfigError as exc:
        from testbench.lab.check import render_error

        console.print(render_error(exc))
        return EXIT_USAGE
    charger = lab.chargers.get(args.charger)
    if charger is None:
        console.print(f"[bold red]usage error:[/] --charger {escape(args.charger)}: not in "
                      f"{lab_path}; chargers: {escape(', '.join(lab.chargers))}")
        return EXIT_USAGE
    for ev in args.ev:
        if ev not in lab.evs:
            console.print(f"[bold red]usage error:[/] --ev {escape(ev)}: not in {lab_path}")
            return EXIT_USAGE
    targets = args.suites or [str(_suites_dir())]
    for target in targets:
        if not Path(target.split("::")[0]).exists():
            console.print(f"[bold red]usage error:[/] no such suite path {escape(target)!r}")
            return EXIT_USAGE
    campaign = "certify-" + new_run_id()
    campaign_dir = lab.output_dir / "certify" / campaign
    try:
        update = read_update_input(args, lab, charger, campaign_dir)
    except CertifyError as error:
        console.print(f"[bold red]CERTIFY NOT STARTED:[/] {escape(str(error))}", soft_wrap=True)
        return EXIT_USAGE
    campaign_dir.mkdir(parents=True, exist_ok=True)
    console.print(f"[bold]testbench certify[/] {campaign}: charger [cyan]{charger.id}[/] "
                  f"({charger.vendor} {charger.model}, OCPP {charger.ocpp_version}) to "
                  f"firmware [cyan]{escape(update.version)}[/] from {escape(str(update.path))}")
    for note in update.notes:
        console.print(f"  note: {escape(note)}")

    env = dict(os.environ)
    old_flash = os.environ.get(FLASH_DIR_ENV)
    if lab.is_sim:
        env[FLASH_DIR_ENV] = str(campaign_dir / "sim-flash")
        os.environ[FLASH_DIR_ENV] = env[FLASH_DIR_ENV]  # the update step's simulated lab
    allure_dir = lab.output_dir / "allure-results"
    before_run, after_run = f"{new_run_id()}-before", ""
    summary: dict[str, Any] = {"campaign": campaign, "charger": charger.id,
                               "image": str(update.path), "version": update.version,
                               "before_run": before_run}
    try:
        problem = _run_step(console, f"before: {charger.id} as it is",
                            _pytest_args(args, lab_path, targets, before_run, allure_dir,
                                         clean_allure=True, firmware=None), env,
                            lab.output_dir / "runs" / before_run / "journal.jsonl")
        if problem is not None:
            return _stop(console, campaign_dir, summary, problem,
                         EXIT_INTERRUPTED if problem == "interrupted" else EXIT_USAGE)
        console.rule(f"[bold]update: {charger.id} to {escape(update.version)}")
        started = time.monotonic()
        outcome = update_charger(lab, charger.id, update, campaign_dir / "update",
                                 update_timeout_s=args.update_timeout_s,
                                 reboot_timeout_s=args.reboot_timeout_s)
        summary["update"] = {"ok": outcome.ok, "verdict": outcome.verdict,
                             "statuses": outcome.statuses,
                             "wall_s": round(time.monotonic() - started, 1)}
        if not outcome.ok:
            return _stop(console, campaign_dir, summary,
                         f"UPDATE FAILED: {outcome.verdict}; firmware {update.version} not "
                         "certified (update evidence: "
                         f"{campaign_dir / 'update'})", EXIT_FAILED)
        console.print(f"[green]update:[/] {escape(outcome.verdict)}", soft_wrap=True)
        after_run = f"{new_run_id()}-after"
        summary["after_run"] = after_run
        problem = _run_step(console, f"after: {charger.id} on {update.version}",
                            _pytest_args(args, lab_path, targets, after_run, allure_dir,
                                         clean_allure=False, firmware=update.version), env,
                            lab.output_dir / "runs" / after_run / "journal.jsonl")
        if problem is not None:
            return _stop(console, campaign_dir, summary, problem,
                         EXIT_INTERRUPTED if problem == "interrupted" else EXIT_USAGE)
        before_label = outcome.before_version or charger.firmware
        diff = compare_runs(lab.output_dir, charger.id, before_run, after_run,
                            before_label, update.version)
        return _report(console, campaign_dir, summary, diff)
    except KeyboardInterrupt:
        return _stop(console, campaign_dir, summary, "interrupted", EXIT_INTERRUPTED)
    finally:
        if old_flash is None:
            os.environ.pop(FLASH_DIR_ENV, None)
        else:
            os.environ[FLASH_DIR_ENV] = old_flash


def _stop(console: Console, campaign_dir: Path, summary: dict[str, Any], why: str,
          code: int) -> int:
    summary.update({"verdict": why, "exit_status": code})
    _write_summary(campaign_dir, summary)
    console.print(f"[bold red]CERTIFY STOPPED:[/] {escape(why)}", soft_wrap=True)
    return code


def _write_summary(campaign_dir: Path, summary: dict[str, Any]) -> None:
    campaign_dir.mkdir(parents=True, exist_ok=True)
    (campaign_dir / "certify.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")


def _report(console: Console, campaign_dir: Path, summary: dict[str, Any], diff: Any) -> int:
    from testbench.reporting.diff_report import render_diff, write_diff
    from testbench.results.diff import Change

    console.rule("[bold]before / after")
    console.print(render_diff(diff))
    written = write_diff(diff, html=campaign_dir / "diff.html",
                         json_path=campaign_dir / "diff.json",
                         markdown=campaign_dir / "diff.md")
    counts = {c.value: n for c, n in diff.counts.items()}
    regressions = len(diff.of(Change.REGRESSION))
    verdict = (f"{diff.meta.get('charger')} {diff.before_label} -> {diff.after_label}: "
               f"{regressions} regression(s), {len(diff.of(Change.FIX))} fix(es), "
               f"{len(diff.of(Change.NEW))} newly applicable, "
               f"{len(diff.of(Change.UNCHANGED))} unchanged")
    code = EXIT_FAILED if regressions else EXIT_OK
    summary.update({"counts": counts, "verdict": verdict, "exit_status": code,
                    "reports": [str(p) for p in written]})
    _write_summary(campaign_dir, summary)
    label = "[bold red]NOT CERTIFIED[/]" if regressions else "[bold green]CERTIFIED[/]"
    console.print(f"{label} {escape(verdict)}", soft_wrap=True)
    console.print(f"reports: {escape(str(campaign_dir))}", highlight=False, soft_wrap=True)
    return code


def _suites_dir() -> Path:
    import suites

    return Path(suites.__file__).resolve().parent


# ------------------------------------------------------------------------ firmware-image
def cmd_firmware_image(args: argparse.Namespace, console: Console) -> int:
    """Build a simulated-lab firmware image."""
    from testbench.firmware.image import ImageError, write_image
    from testbench.lab.faults import CHARGER_FAULTS

    faults = None
    if args.faults is not None:
        faults = [f.strip() for f in args.faults.split(",") if f.strip()]
        unknown = [f for f in faults if f not in CHARGER_FAULTS]
        if unknown:
            console.print(f"[bold red]usage error:[/] unknown fault(s) {', '.join(unknown)}; "
                          f"known: {', '.join(CHARGER_FAULTS)}")
            return EXIT_USAGE
    try:
        path = write_image(Path(args.output), args.version, vendor=args.vendor,
                           model=args.model, faults=faults)
    except (ImageError, OSError) as error:
        console.print(f"[bold red]error:[/] {escape(str(error))}")
        return EXIT_USAGE
    console.print(f"wrote {path} (firmware {args.version}"
                  + ("" if faults is None else f", faults: {', '.join(faults) or 'none'}")
                  + ")", highlight=False)
    return EXIT_OK


def register(subparsers: Any) -> None:
    """Add ``certify`` and ``firmware-image`` to ``testbench`` (each sets ``func``)."""
    cert = subparsers.add_parser(
        "certify", help="run suites, update a charger's firmware over OCPP, run them again, "
        "and show what changed (exit 1 on a regression)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cert.add_argument("--charger", required=True, help="the charger to certify (lab.toml id)")
    cert.add_argument("--firmware", required=True, metavar="PATH", help="the image to install")
    cert.add_argument("--lab", default="lab.toml", help="lab description (default: ./lab.toml)")
    cert.add_argument("--suites", nargs="+", default=[], metavar="PATH",
                      help="suite files or folders to run before and after (default: all)")
    cert.add_argument("--ev", action="append", default=[], help="only this EV (repeatable)")
    cert.add_argument("-k", default=None, help="pytest -k expression selecting tests")
    cert.add_argument("--version", default=None,
                      help="the version the image installs (required for a real charger)")
    cert.add_argument("--signature", default=None, metavar="FILE",
                      help="2.x: base64 signature of the image (with --signing-cert)")
    cert.add_argument("--signing-cert", default=None, metavar="FILE",
                      help="2.x: PEM certificate the image was signed with")
    cert.add_argument("--unattended", action="store_true", help="skip steps that need an operator")
    cert.add_argument("--update-timeout-s", type=float, default=UPDATE_TIMEOUT_S,
                      help=f"lab seconds for the update to finish (default {UPDATE_TIMEOUT_S:g})")
    cert.add_argument("--reboot-timeout-s", type=float, default=REBOOT_TIMEOUT_S,
                      help="lab seconds for the charger to come back after installing "
                           f"(default {REBOOT_TIMEOUT_S:g})")
    cert.set_defaults(func=cmd_certify)

    img = subparsers.add_parser(
        "firmware-image", help="build a simulated-lab firmware image (for certify)",
        description="Build a firmware image of the simulated lab's format "
        "(testbench/firmware/image.py).")
    img.add_argument("output", help="file to write")
    img.add_argument("--version", required=True, help="the version the image installs")
    img.add_argument("--faults", default=None, metavar="NAMES",
                     help="comma-separated fault personalities of the new firmware (\"\" = "
                          "none: fixes every fault; omitted: the charger keeps its faults)")
    img.add_argument("--vendor", default=None, help="only for chargers of this vendor")
    img.add_argument("--model", default=None, help="only for chargers of this model")
    img.set_defaults(func=cmd_firmware_image)


def main(argv: list[str] | None = None) -> int:
    """``python -m testbench.cli_certify certify ...`` (the same as ``testbench certify``)."""
    parser = argparse.ArgumentParser(prog="testbench")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args, Console(highlight=False)))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
