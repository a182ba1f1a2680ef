"""Every module vbauth imports comes with vbauth: from the standard library, or a runtime
dependency (or one of theirs). A dev-only dependency imported by the code breaks every
install without the dev group (a container, a pip install), which the suite itself never sees.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, packages_distributions, requires
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"^[A-Za-z0-9_.-]+")
EXTRA = re.compile(r"extra\s*==\s*['\"]([^'\"]+)['\"]")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _runtime_closure() -> set[str]:
    """The runtime dependencies and theirs, with only the extras asked for (``uvicorn[standard]``,
    not every package's optional ones)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pending = [_requirement(spec) for spec in project["dependencies"]]
    seen: set[str] = set()
    while pending:
        name, extras = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requirements = requires(name) or []
        except PackageNotFoundError:
            continue  # an optional one, not installed here: nothing can import it either
        for requirement in requirements:
            wanted = EXTRA.search(requirement)
            if wanted is None or wanted.group(1) in extras:
                pending.append(_requirement(requirement))
    return seen


def _requirement(spec: str) -> tuple[str, set[str]]:
    head = spec.split(";")[0]
    name = _normal(NAME.match(head).group(0))  # type: ignore[union-attr]
    extras = re.search(r"\[([^\]]+)\]", head)
    return name, {e.strip() for e in extras.group(1).split(",")} if extras else set()


def _imported_top_levels() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "src" / "vbauth").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"vbauth", "__future__"}


def test_everything_imported_is_a_runtime_dependency() -> None:
    runtime = _runtime_closure()
    owners = packages_distributions()
    missing = {
        module: owners.get(module, ["?"])
        for module in _imported_top_levels()
        if not any(_normal(owner) in runtime for owner in owners.get(module, []))
    }
    assert not missing, f"imported but not installed without the dev group: {missing}"
