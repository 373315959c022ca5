"""The deploy package: a zip of the project as the Function App runs it, made of what `.funcignore`
lets through (gitignore rules), its content listed and checked.

    python .github/package.py [--root .] [--output dist/app.zip]

`deploy.yml` ships exactly this zip (`Azure/functions-action` with `package: <zip>`; on Flex Consumption
the remote build installs requirements.txt), and CI builds it the same way (`make package`). It fails
when something that must never ship is in it (a virtual environment, .git, tests, local settings...)
or when the app itself is missing.
"""

import argparse
import os
import sys
import zipfile
from pathlib import Path

import pathspec

# Never in the package, at any depth; names starting with ".venv" (.venv-migrate, ...) neither.
FORBIDDEN = {".git", ".github", ".data", "tests", "bench", "devhost", "__pycache__", "local.settings.json"}
REQUIRED = ("function_app.py", "host.json", "requirements.txt")
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the same bytes for the same files


def ignore_spec(root: Path) -> pathspec.GitIgnoreSpec:
    lines = (root / ".funcignore").read_text().splitlines()
    return pathspec.GitIgnoreSpec.from_lines(lines)


def package_files(root: Path) -> list[str]:
    """Paths (relative, with /) of the files `.funcignore` lets through. An ignored folder is not
    entered (as in git, nothing under it can come back); links are not followed."""
    spec = ignore_spec(root)
    files: list[str] = []
    for folder, dirs, names in os.walk(root):
        base = Path(folder).relative_to(root).as_posix()
        prefix = "" if base == "." else f"{base}/"
        dirs[:] = sorted(d for d in dirs if _kept(spec, f"{prefix}{d}/", Path(folder, d)))
        files += [f"{prefix}{name}" for name in names if _kept(spec, f"{prefix}{name}", Path(folder, name))]
    return sorted(files)


def _kept(spec: pathspec.GitIgnoreSpec, path: str, node: Path) -> bool:
    return not spec.match_file(path) and not node.is_symlink()


def problems(files: list[str]) -> list[str]:
    """What is wrong with a package of these files: forbidden entries, or a missing part of the app."""
    found = [path for path in files if any(part in FORBIDDEN or part.startswith(".venv") for part in path.split("/"))]
    missing = [name for name in REQUIRED if name not in files]
    if not any(path.startswith("services/") for path in files):
        missing.append("services/")
    return [f"must not be in the package: {path}" for path in found] + [f"missing: {name}" for name in missing]


def build(root: Path, output: Path) -> list[str]:
    """Writes the zip (the output itself never goes in) and returns its files."""
    files = [path for path in package_files(root) if (root / path).resolve() != output.resolve()]
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            info = zipfile.ZipInfo(path, date_time=FIXED_TIME)
            info.external_attr = ((root / path).stat().st_mode & 0o777 | 0o100000) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, (root / path).read_bytes())
    return files


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python .github/package.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--output", type=Path, default=Path("dist/app.zip"))
    args = parser.parse_args(argv)
    root = args.root.resolve()
    output = args.output if args.output.is_absolute() else Path.cwd() / args.output
    files = build(root, output)
    for path in files:
        print(path)
    size_kb = output.stat().st_size / 1024
    print(f"{output}: {len(files)} files, {size_kb:.0f} KB")
    wrong = problems(files)
    for problem in wrong:
        print(problem, file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
