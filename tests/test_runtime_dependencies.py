"""What the engine and its entry points import is installed by a plain install.

The test environment has the dev group and the extras, so a module that only an extra
brings (pyarrow came with fakesnow once) imports fine here and fails for a user who ran
`pip install sophia-engine` (or `langgraph dev` from its own environment). This walks
the imports of each entry point in a fresh interpreter and checks that every third-party
module comes from a distribution in the closure of the project's runtime requirements.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata

import pytest

PROJECT = "sophia-engine"
ENTRY_POINTS = ("graphs.langgraph_entry", "graphs.cli.main", "graphs.server.app", "graphs.cli.run")


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;(]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _runtime_closure() -> set[str]:
    """The project's runtime requirements and theirs, without any extra."""
    seen: set[str] = set()
    todo = [PROJECT]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in requires:
            marker = requirement.partition(";")[2]
            if "extra ==" in marker and name == PROJECT:
                continue  # the project's own extras are what this test keeps out
            if "extra ==" in marker and not _wanted_extra(name, requirement, marker):
                continue
            todo.append(_name(requirement))
    return seen


def _wanted_extra(name: str, requirement: str, marker: str) -> bool:
    """Whether `name` is required with the extra `marker` names (e.g. pyjwt[crypto])."""
    extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker)
    if extra is None:
        return False
    wanted = metadata.requires(PROJECT) or []
    return any((_name(r) == name and f"[{extra.group(1)}" in r.replace(" ", "")) or
               (_name(r) == name and f",{extra.group(1)}" in r.replace(" ", ""))
               for r in wanted)  # fmt: skip


# Run in a fresh interpreter: modules of distributions outside the runtime closure are
# missing, as in a plain install (a dependency's optional import then fails quietly, as
# it would there).
_PLAIN_INSTALL = """
import importlib.abc, json, sys
blocked = set(json.loads(sys.argv[1]))
class Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Missing())
import importlib
importlib.import_module(sys.argv[2])
"""


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_entry_points_import_with_only_the_runtime_dependencies(module: str) -> None:
    allowed = _runtime_closure()
    blocked = sorted(
        top for top, dists in metadata.packages_distributions().items()
        if not {_name(d) for d in dists} & allowed
    )  # fmt: skip
    assert "fakesnow" in blocked  # an extra's module: the check has teeth
    done = subprocess.run(
        [sys.executable, "-c", _PLAIN_INSTALL, json.dumps(blocked), module],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    missing = re.findall(r"No module named '([^']+)'", done.stderr)
    assert done.returncode == 0, f"{module} needs {missing} beyond the runtime dependencies"
