"""The deploy package (.github/package.py, what deploy.yml ships): what .funcignore lets through,
without a virtual environment, git, tests, benchmarks or local settings, with the app in it."""

import importlib.util
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("deploy_package", ROOT / ".github" / "package.py")
assert _spec and _spec.loader
package = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(package)

APP = ["function_app.py", "host.json", "requirements.txt", "services/__init__.py", "services/common/settings.py"]
NEVER = [
    ".venv/bin/python",
    ".venv-migrate/bin/alembic",
    ".git/HEAD",
    ".github/workflows/ci.yml",
    "tests/unit/test_x.py",
    "bench/coldstart.py",
    "devhost/__main__.py",
    ".data/pgdata/PG_VERSION",
    "local.settings.json",
    "services/__pycache__/settings.cpython-311.pyc",
]


def make_tree(root: Path, paths: list[str], funcignore: str) -> None:
    for path in paths:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(path)
    (root / ".funcignore").write_text(funcignore)


def test_the_package_of_this_repository_is_the_app_without_what_must_not_ship(tmp_path: Path) -> None:
    output = tmp_path / "app.zip"

    files = package.build(ROOT, output)

    assert package.problems(files) == []
    assert set(zipfile.ZipFile(output).namelist()) == set(files)
    assert {"function_app.py", "host.json", "requirements.txt", "services/common/static/app.html"} <= set(files)
    assert not any(path.startswith(("alembic_migrations/versions/__pycache__", "DeployResources/")) for path in files)


def test_folders_and_files_that_funcignore_names_stay_out(tmp_path: Path) -> None:
    make_tree(tmp_path, APP + NEVER, (ROOT / ".funcignore").read_text())

    files = package.build(tmp_path, tmp_path / "dist" / "app.zip")

    assert files == sorted([*APP, ".funcignore"])


def test_the_zip_never_contains_itself(tmp_path: Path) -> None:
    make_tree(tmp_path, APP, "")

    files = package.build(tmp_path, tmp_path / "app.zip")
    again = package.build(tmp_path, tmp_path / "app.zip")

    assert files == again == sorted([*APP, ".funcignore"])


@pytest.mark.parametrize("path", NEVER)
def test_a_package_with_something_that_must_not_ship_is_refused(path: str) -> None:
    assert package.problems([*APP, path]) == [f"must not be in the package: {path}"]


def test_a_package_without_the_app_is_refused() -> None:
    assert package.problems(["README.md"]) == [
        "missing: function_app.py",
        "missing: host.json",
        "missing: requirements.txt",
        "missing: services/",
    ]


def test_the_build_fails_when_funcignore_lets_tests_through(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_tree(tmp_path, [*APP, "tests/test_x.py"], ".venv\n")

    status = package.main(["--root", str(tmp_path), "--output", str(tmp_path / "dist" / "app.zip")])

    assert status == 1
    assert "must not be in the package: tests/test_x.py" in capsys.readouterr().err
