"""Shared pytest setup: the checkout is importable as `kali`, helpers live in tests/support.py."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
