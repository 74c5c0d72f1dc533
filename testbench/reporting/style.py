"""How each verdict looks: icon, rich style, HTML colours and a one-word label.

Shared by the console matrix, the live console and the HTML matrix so they agree.
"""

from __future__ import annotations

from testbench.results.verdict import Verdict

ICON: dict[Verdict, str] = {
    Verdict.PASSED: "✔",
    Verdict.FAILED: "✘",
    Verdict.ERROR: "!",
    Verdict.SKIPPED: "–",
    Verdict.NOT_RUN: "·",
}

RICH_STYLE: dict[Verdict, str] = {
    Verdict.PASSED: "green",
    Verdict.FAILED: "bold red",
    Verdict.ERROR: "bold magenta",
    Verdict.SKIPPED: "dim",
    Verdict.NOT_RUN: "dim",
}

#: (background, text) colours for the HTML matrix.
HTML_COLOURS: dict[Verdict, tuple[str, str]] = {
    Verdict.PASSED: ("#d5f5d5", "#135e13"),
    Verdict.FAILED: ("#fbd0d0", "#8a0f0f"),
    Verdict.ERROR: ("#f3d3f3", "#6e1470"),
    Verdict.SKIPPED: ("#ececec", "#555555"),
    Verdict.NOT_RUN: ("#ffffff", "#999999"),
}

#: Short names for legends.
SHORT_LABEL: dict[Verdict, str] = {
    Verdict.PASSED: "passed",
    Verdict.FAILED: "failed (device)",
    Verdict.ERROR: "bench error",
    Verdict.SKIPPED: "skipped",
    Verdict.NOT_RUN: "not run",
}

#: Long explanations for the HTML legend.
LABEL: dict[Verdict, str] = {
    Verdict.PASSED: "passed",
    Verdict.FAILED: "failed (device did wrong)",
    Verdict.ERROR: "error (bench or instrument failed, device not judged)",
    Verdict.SKIPPED: "skipped (not applicable)",
    Verdict.NOT_RUN: "not run",
}


def cell_summary(counts: dict[Verdict, int]) -> str:
    """Short plain text for a cell: ``✔ 9``, ``✘ 2/9``, ``! 1/9``, ``– 9`` or ``·``.

    Failures are shown as "failed/total"; errors appear after them (``✘ 2/9 ! 1``) since an
    error is a different kind of problem. Skips next to passes are shown as ``(–3)``.
    """
    total = sum(counts.values())
    failed = counts.get(Verdict.FAILED, 0)
    errors = counts.get(Verdict.ERROR, 0)
    passed = counts.get(Verdict.PASSED, 0)
    skipped = counts.get(Verdict.SKIPPED, 0)
    if total == 0:
        return ICON[Verdict.NOT_RUN]
    if failed:
        text = f"{ICON[Verdict.FAILED]} {failed}/{total}"
        return text + (f" {ICON[Verdict.ERROR]} {errors}" if errors else "")
    if errors:
        return f"{ICON[Verdict.ERROR]} {errors}/{total}"
    if passed:
        return f"{ICON[Verdict.PASSED]} {passed}" + (
            f" ({ICON[Verdict.SKIPPED]}{skipped})" if skipped else ""
        )
    if skipped:
        return f"{ICON[Verdict.SKIPPED]} {skipped}"
    return f"{ICON[Verdict.NOT_RUN]} {total}"
