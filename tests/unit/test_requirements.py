"""requirements.txt names every package the app imports itself (Azure installs only what it lists; a
package that comes along as another's dependency can go with that dependency's next release). An
import guarded by `except ImportError` is optional: its package belongs to requirements-dev.txt."""

import ast
import importlib.metadata
import re
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "function_app.py", *sorted((ROOT / "services").rglob("*.py"))]
OWN = {"services"}


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(requirements: str) -> set[str]:
    """Distribution names pinned (`name[extras]==version`) in a requirements file, following `-r`."""
    names: set[str] = set()
    for line in (ROOT / requirements).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            names |= pinned(line[3:].strip())
        elif match := re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==\S+$", line):
            names.add(normalized(match.group(1)))
        elif line:
            raise AssertionError(f"{requirements}: not pinned: {line}")
    return names


def imports(path: Path) -> list[tuple[str, bool]]:
    """(absolute module, optional) for each import of a file; optional: inside `try` with an
    `except ImportError` (or ModuleNotFoundError) handler."""
    tree = ast.parse(path.read_text(), filename=str(path))
    optional_nodes: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
            isinstance(handler.type, ast.Name) and handler.type.id in {"ImportError", "ModuleNotFoundError"}
            for handler in node.handlers
        ):
            optional_nodes |= {id(inner) for statement in node.body for inner in ast.walk(statement)}
    found: list[tuple[str, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in optional_nodes) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, id(node) in optional_nodes))
    return found


@cache
def top_level_owners() -> Mapping[str, list[str]]:
    return importlib.metadata.packages_distributions()


@cache
def distribution_files(distribution: str) -> frozenset[str]:
    return frozenset(str(file) for file in importlib.metadata.files(distribution) or [])


def distributions_of(module: str) -> set[str]:
    """The installed distributions that provide `module`. A namespace package (azure, opentelemetry)
    is shared by many: the one whose files hold the deepest part of the dotted name is the one."""
    top = module.split(".")[0]
    candidates = top_level_owners().get(top, [])
    parts = module.split(".")
    for depth in range(len(parts), 1, -1):
        prefix = "/".join(parts[:depth])
        owners = {
            name
            for name in candidates
            if any(f.startswith(f"{prefix}/") or f == f"{prefix}.py" for f in distribution_files(name))
        }
        if owners:
            return {normalized(name) for name in owners}
    return {normalized(name) for name in candidates}


def third_party_imports() -> dict[tuple[str, bool], list[str]]:
    found: dict[tuple[str, bool], list[str]] = {}
    for path in SOURCES:
        for module, optional in imports(path):
            top = module.split(".")[0]
            if top not in sys.stdlib_module_names and top not in OWN:
                found.setdefault((module, optional), []).append(str(path.relative_to(ROOT)))
    return found


def test_every_package_the_app_imports_is_pinned_in_requirements_txt() -> None:
    runtime, dev = pinned("requirements.txt"), pinned("requirements-dev.txt")
    missing = []
    for (module, optional), where in sorted(third_party_imports().items()):
        owners = distributions_of(module)
        if not owners & (dev if optional else runtime):
            wanted = "requirements-dev.txt" if optional else "requirements.txt"
            missing.append(f"{module} ({', '.join(sorted(owners)) or 'not installed'}) in {where[0]}: not in {wanted}")

    assert missing == []


def test_the_check_sees_namespace_packages_and_optional_imports() -> None:
    found = third_party_imports()

    assert distributions_of("azure.functions") == {"azure-functions"}
    assert distributions_of("opentelemetry.trace") == {"opentelemetry-api"}
    assert ("pgserver", True) in found  # the embedded database: a local-only, guarded import
    assert ("requests", False) in found and ("numpy", False) in found
