"""Whatever a lab file contains, load_lab returns a Lab or raises LabConfigError, nothing else."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testbench.errors import LabConfigError
from testbench.lab.loader import LabConfigErrors, load_lab
from testbench.lab.model import Lab

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_scalars = st.one_of(
    st.booleans(), st.integers(-(10**400), 10**400), st.floats(allow_nan=True), _text,
    st.sampled_from(["sim", "real", "1.6", "2.0.1", "-2", "AC", "c16", "ev1", "Accepted"]),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(_text.filter(bool), inner, max_size=3)),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_paths(value, (*prefix, index)))
    return found


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_lab_loads_or_raises_lab_config_error(
    base_lab: dict[str, Any], write_lab: Callable[[dict[str, Any] | str], Path], data: Any
) -> None:
    lab = copy.deepcopy(base_lab)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        path = data.draw(st.sampled_from(_paths(lab)), label="path")
        parent = lab
        for step in path[:-1]:
            parent = parent[step]
        action = data.draw(st.sampled_from(["replace", "delete", "add-key"]), label="action")
        if action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "add-key" and isinstance(parent[path[-1]], dict):
            parent[path[-1]][data.draw(_text.filter(bool), label="key")] = data.draw(_values)
        else:
            parent[path[-1]] = data.draw(_values, label="value")
    file = write_lab(lab)
    try:
        result = load_lab(file)
    except LabConfigError as error:
        assert isinstance(error, LabConfigErrors)
        for item in error.problems:
            assert item.path == str(file)
            assert item.table and item.problem and item.fix
    else:
        assert isinstance(result, Lab)
