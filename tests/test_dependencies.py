"""pyproject.toml declares every third-party package that tavaal_jax/ imports, and the
installed versions (the tested ones) satisfy its ranges."""

import ast
import importlib.metadata
import os
import re
import sys
import tomllib
from typing import Dict, Iterable, Set

import pytest
from packaging.requirements import Requirement

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _normalized(name: str) -> str:
  return re.sub(r"[-_.]+", "-", name).lower()   # PEP 503: tensorboardX == tensorboardx


def imported_modules(package_dir: str) -> Dict[str, Set[str]]:
  """{top-level module name: files importing it} over every .py under package_dir, imports
  inside functions included; the stdlib, relative imports and the package itself left out."""
  package = os.path.basename(package_dir)
  found: Dict[str, Set[str]] = {}
  for folder, _, files in os.walk(package_dir):
    for name in files:
      if not name.endswith(".py"):
        continue
      path = os.path.join(folder, name)
      with open(path) as f:
        tree = ast.parse(f.read(), path)
      for node in ast.walk(tree):
        if isinstance(node, ast.Import):
          modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
          modules = [node.module]
        else:
          continue
        for module in modules:
          top = module.split(".")[0]
          if top not in sys.stdlib_module_names and top != package:
            found.setdefault(top, set()).add(os.path.relpath(path, REPO))
  return found


def declared_distributions() -> Set[str]:
  with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
    project = tomllib.load(f)["project"]
  return {_normalized(Requirement(r).name) for r in project["dependencies"]}


def undeclared(modules: Iterable[str], declared: Set[str]) -> Dict[str, str]:
  """{module: why} for each module whose distribution `declared` lacks."""
  distributions = importlib.metadata.packages_distributions()
  missing = {}
  for module in sorted(modules):
    names = distributions.get(module)
    if not names:
      missing[module] = "no installed distribution provides it"
    elif not any(_normalized(n) in declared for n in names):
      missing[module] = f"{' or '.join(names)} is not in pyproject's dependencies"
  return missing


def test_every_imported_package_is_a_declared_dependency():
  modules = imported_modules(os.path.join(REPO, "tavaal_jax"))
  assert {"jax", "flax", "matplotlib", "tensorboardX", "etils"} <= set(modules)
  missing = undeclared(modules, declared_distributions())
  assert not missing, {m: (why, sorted(modules[m])) for m, why in missing.items()}


def test_a_missing_dependency_is_reported():
  declared = declared_distributions() - {"matplotlib"}
  assert set(undeclared(["matplotlib", "numpy"], declared)) == {"matplotlib"}
  assert set(undeclared(["no_such_module_here"], declared)) == {"no_such_module_here"}


def test_the_installed_versions_are_in_the_declared_ranges():
  with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
    requirements = [Requirement(r) for r in tomllib.load(f)["project"]["dependencies"]]
  outside = {}
  for requirement in requirements:
    try:
      version = importlib.metadata.version(requirement.name)
    except importlib.metadata.PackageNotFoundError:
      pytest.fail(f"{requirement.name} is declared but not installed")
    if not requirement.specifier.contains(version, prereleases=True):
      outside[requirement.name] = f"{version} not in {requirement.specifier}"
  assert not outside, outside
