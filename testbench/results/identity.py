"""What makes two results "the same test" across runs, stations and labs.

The plugin's test id is pytest's node id, which carries the pairing in its parameter id
(``suites/ocpp/test_boot.py::test_boot[ev-a@cp-1]``, or ``[st-2:ev-a@cp-1]`` when a lab has
several stations). The matrix already places a result by its EV and charger, so the pairing
part of the id only gets in the way: the same test of the same pairing run at another
station, or in another lab with the same device ids, must replace the older verdict rather
than count twice. :func:`canonical_test_id` strips it (the store keeps it as ``test_key``).
"""

from __future__ import annotations


def _pairing_tokens(station: str | None, ev: str | None, charger: str | None) -> list[str]:
    if not ev or not charger:
        return []
    tokens = [f"{ev}@{charger}"]
    if station:
        tokens.insert(0, f"{station}:{ev}@{charger}")
    return tokens


def canonical_test_id(
    test_id: str, *, station: str | None = None, ev: str | None = None, charger: str | None = None
) -> str:
    """``test_id`` without the pairing in its pytest parameter id.

    ``t.py::test_x[ev-a@cp-1]`` -> ``t.py::test_x``; ``t.py::test_x[ev-a@cp-1-16A]`` ->
    ``t.py::test_x[16A]``; ids without the pairing are returned unchanged.
    """
    start = test_id.find("[", test_id.rfind("::") + 1 if "::" in test_id else 0)
    if start < 0 or not test_id.endswith("]"):
        return test_id
    head, params = test_id[:start], test_id[start + 1 : -1]
    for token in _pairing_tokens(station, ev, charger):
        if params == token:
            return head
        if params.startswith(token + "-"):
            return f"{head}[{params[len(token) + 1 :]}]"
        if params.endswith("-" + token):
            return f"{head}[{params[: -len(token) - 1]}]"
        middle = f"-{token}-"
        if middle in params:
            return f"{head}[{params.replace(middle, '-', 1)}]"
    return test_id
