"""Installs are reproducible: requirements.lock pins every package with hashes, inside pyproject.toml's ranges, and
`make install` installs from it in hash-checking mode."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s\\;]+)")


def _locked() -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes)."""
    pins: dict[str, tuple[str, int]] = {}
    current = None
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            pins[current] = (match.group(2), 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(text) for text in [*project["dependencies"], *project["optional-dependencies"]["dev"]]]


def test_every_declared_dependency_is_locked_inside_its_range():
    pins = _locked()
    for requirement in _declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is in pyproject.toml but not in requirements.lock: run `make lock`"
        version = pins[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements.lock has {requirement.name}=={version}, outside {requirement.specifier}: run `make lock`"
        )


def test_every_locked_package_carries_hashes():
    pins = _locked()
    assert len(pins) > 50  # the whole tree, not only the direct dependencies
    assert [name for name, (_, hashes) in pins.items() if hashes == 0] == []


def test_make_install_uses_the_lock_in_hash_checking_mode():
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes --no-deps -r requirements.lock" in makefile
    assert '-e ".[dev]"' not in makefile  # resolving the ranges afresh would ignore the lock


def test_declared_ranges_stay_within_one_major():
    """pyproject's comment promises it: a breaking major release is never taken by accident."""
    for requirement in _declared():
        lower = [s.version for s in requirement.specifier if s.operator == ">="]
        upper = [s.version for s in requirement.specifier if s.operator == "<"]
        if not lower or not upper:
            continue  # a floor only (calendar-versioned assets) or an exact pin
        low, high = (tuple(int(part) for part in v.split(".")) for v in (lower[0], upper[0]))
        if low[0] == 0:
            continue  # 0.x: each minor may break, and those ranges are chosen by hand
        next_major = high[0] == low[0] + 1 and not any(high[1:])
        assert high[0] == low[0] or next_major, f"{requirement} spans more than one major"
