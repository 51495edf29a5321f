"""The helpers in tests/support.py: what they promise the tests that use them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT


@pytest.mark.parametrize("module", ["test_examples_browser", "test_datebook_browser", "test_forms_browser",
                                    "test_security"])
@pytest.mark.parametrize("ci", [False, True])
def test_a_missing_chromium_is_a_skip_locally_and_a_failure_in_ci(module: str, ci: bool, tmp_path: Path) -> None:
    probe = tmp_path / "test_probe.py"
    # Every browser module launches through tests/support.chromium, which looks for support.CHROMIUM.
    probe.write_text(f"import support\n"
                     f"support.CHROMIUM = {str(tmp_path / 'no-chromium-here')!r}\n"
                     f"from {module} import browser\n\n"
                     "def test_needs_the_browser(browser):\n"
                     "    pass\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), str(ROOT)])
    if ci:
        env["CI"] = "true"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(probe)],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=120)
    if ci:
        assert done.returncode == 1 and "CI" in done.stdout and "1 error" in done.stdout, done.stdout
    else:
        assert done.returncode == 0 and "1 skipped" in done.stdout, done.stdout
        assert "apt-get install -y chromium" in done.stdout
