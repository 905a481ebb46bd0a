"""The missing-tool policy in tests/tools.py: skip locally, fail when CI=true."""

from __future__ import annotations

import pytest

from tests.tools import require_module, require_tool

ABSENT = "summitcal-no-such-tool-3f9a"


def test_missing_tool_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"{ABSENT} is not available: for a test"):
        require_tool(ABSENT, "for a test")


@pytest.mark.parametrize("value", ["true", "TRUE", "True"])
def test_missing_tool_fails_in_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require_tool(ABSENT, "for a test")


def test_ci_other_than_true_still_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        require_tool(ABSENT, "for a test")


def test_present_tool_gives_its_path() -> None:
    assert require_tool("sh", "a POSIX shell").endswith("sh")


def test_missing_module_follows_the_same_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="summitcal_no_such_module"):
        require_module("summitcal_no_such_module", "for a test")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        require_module("summitcal_no_such_module", "for a test")
    assert require_module("json", "stdlib").dumps([]) == "[]"
