"""Shared pytest setup: the checkout is importable as `kali`, helpers live in tests/support.py."""

import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

# Examples keep their data in the user's data folder by default; tests must never write
# there. Every process the tests start inherits this (a test may still set its own).
if not os.environ.get("KALI_TESTS_KEEP_DATA_DIR"):
    os.environ["KALI_DATA_DIR"] = tempfile.mkdtemp(prefix="kali-test-data-")
