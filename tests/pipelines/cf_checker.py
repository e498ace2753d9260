"""The IOOS compliance-checker's CF suite as a test helper: the findings of one netCDF file, by priority.

The suite run is the CF version the file declares in `Conventions` (CF-1.8 -> "cf:1.8").
"""

from __future__ import annotations

from pathlib import Path

import netCDF4
from compliance_checker.base import BaseCheck
from compliance_checker.runner import CheckSuite

PRIORITY = {BaseCheck.HIGH: "high", BaseCheck.MEDIUM: "medium", BaseCheck.LOW: "low"}


def cf_findings(path: Path) -> dict[str, dict[str, list[str]]]:
    """Every check of the CF suite that `path` fails: {priority: {check name: messages}}.

    A check that raised is reported under "error" with the exception as its message.
    """
    with netCDF4.Dataset(path) as nc:
        conventions = str(getattr(nc, "Conventions", ""))
    versions = [c.removeprefix("CF-") for c in conventions.replace(",", " ").split() if c.startswith("CF-")]
    if not versions:
        raise ValueError(f"{path} declares no CF version in Conventions={conventions!r}")
    checker = f"cf:{versions[0]}"
    CheckSuite.load_all_available_checkers()
    suite = CheckSuite()
    dataset = suite.load_dataset(str(path))
    try:
        groups, errors = suite.run_all(dataset, [checker])[checker]
    finally:
        dataset.close()
    findings = {name: {} for name in (*PRIORITY.values(), "error")}
    for result in groups:
        scored, possible = result.value
        if scored < possible:
            findings[PRIORITY[result.weight]][result.name] = list(result.msgs)
    findings["error"] = {check: [repr(err)] for check, (err, _) in errors.items()}
    return findings


def unexpected(findings: dict[str, dict[str, list[str]]], allowed: dict[str, str]) -> dict[str, dict]:
    """`findings` without the medium, low and errored checks named in `allowed` (check name -> why it
    is deliberate), and without empty priorities; a high-priority finding is never allowed."""
    left = {}
    for priority, checks in findings.items():
        keep = {name: msgs for name, msgs in checks.items()
                if priority == "high" or name not in allowed}
        if keep:
            left[priority] = keep
    return left
