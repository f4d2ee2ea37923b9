"""The package layout of DESIGN.md and the import contracts between its packages.

The contracts themselves live in pyproject.toml ([tool.importlinter]); these tests run
import-linter on the project, and prove that each contract really catches a violation by
seeding one into a throwaway copy of the layout.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT_PATH = ROOT / "pyproject.toml"
PYPROJECT: dict[str, Any] = tomllib.loads(PYPROJECT_PATH.read_text())
# One folder = one concern (DESIGN.md, "Layout").
LAYOUT = ("walkout", "devices", "vision_core", "facility", "dashboards", "sim_devices")
CONTRACTS: list[dict[str, Any]] = PYPROJECT["tool"]["importlinter"]["contracts"]


def _lint_imports(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from importlinter.cli import lint_imports_command; lint_imports_command()",
            "--no-cache",
            "--no-logo",
            *args,
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _verdicts(output: str) -> dict[str, str]:
    """Contract name -> "KEPT" / "BROKEN", from lint-imports' report."""
    names = {c["name"] for c in CONTRACTS}
    out = {}
    for line in output.splitlines():
        name, _, verdict = line.rpartition(" ")
        if name in names and verdict in {"KEPT", "BROKEN"}:
            out[name] = verdict
    return out


def test_layout_packages_exist() -> None:
    missing = [pkg for pkg in LAYOUT if not (ROOT / pkg / "__init__.py").is_file()]
    assert not missing, f"packages of the DESIGN.md layout without an __init__.py: {missing}"


def test_tool_configs_cover_the_same_packages() -> None:
    tool = PYPROJECT["tool"]
    listed = {
        "mypy packages": set(tool["mypy"]["packages"]),
        "importlinter root_packages": set(tool["importlinter"]["root_packages"]),
        "setuptools packages.find include": {
            p.removesuffix("*") for p in tool["setuptools"]["packages"]["find"]["include"]
        },
    }
    for what, packages in listed.items():
        assert packages == set(LAYOUT), f"{what} differ from the layout: {sorted(packages)}"


def test_project_keeps_its_import_contracts() -> None:
    result = _lint_imports(ROOT)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert _verdicts(report) == {c["name"]: "KEPT" for c in CONTRACTS}, report


# --- the contracts catch violations ---------------------------------------------------------


def _seeded_import(contract: dict[str, Any]) -> tuple[str, str]:
    """(importer, imported) module names that break this contract."""
    if contract["type"] == "forbidden":
        return contract["source_modules"][0], contract["forbidden_modules"][0]
    if contract["type"] == "independence":
        return contract["modules"][0], contract["modules"][1]
    if contract["type"] == "layers":
        return contract["layers"][-1], contract["layers"][0]
    pytest.fail(f"no seeded violation for contract type {contract['type']!r}: add one here")


def _make_tree(root: Path, imports: list[tuple[str, str]]) -> None:
    """The layout's packages under root (plus any dotted subpackage named), and for each
    (importer, imported) a module ``<importer>.seeded`` that imports ``imported``."""
    modules = set(LAYOUT) | {m for pair in imports for m in pair}
    for module in modules:
        parts = module.split(".")
        for depth in range(1, len(parts) + 1):
            package = root.joinpath(*parts[:depth])
            package.mkdir(exist_ok=True)
            (package / "__init__.py").touch()
    for importer, imported in imports:
        root.joinpath(*importer.split("."), "seeded.py").write_text(f"import {imported}\n")
    (root / "pyproject.toml").write_text(PYPROJECT_PATH.read_text())


def test_clean_copy_of_the_layout_keeps_every_contract(tmp_path: Path) -> None:
    _make_tree(tmp_path, [])
    result = _lint_imports(tmp_path, "--config", "pyproject.toml")
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert _verdicts(report) == {c["name"]: "KEPT" for c in CONTRACTS}, report


@pytest.mark.parametrize("contract", CONTRACTS, ids=[c["name"] for c in CONTRACTS])
def test_contract_catches_a_seeded_violation(tmp_path: Path, contract: dict[str, Any]) -> None:
    importer, imported = _seeded_import(contract)
    _make_tree(tmp_path, [(importer, imported)])
    result = _lint_imports(tmp_path, "--config", "pyproject.toml")
    report = result.stdout + result.stderr
    assert result.returncode != 0, report
    assert _verdicts(report).get(contract["name"]) == "BROKEN", report
    # the report is about the throwaway tree, not the project
    assert f"{importer}.seeded -> {imported}" in report, report
