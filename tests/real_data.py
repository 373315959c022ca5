"""Real-world data the tests read where it lives: the dev set's caption files, in `shared/` beside the
project (as in CI), or where EVAL_DEV_DIR points. Never copied into the repository."""

import os
from pathlib import Path

import pytest

EVAL_DEV = Path(os.environ.get("EVAL_DEV_DIR") or Path(__file__).resolve().parents[1].parent / "shared" / "eval-dev")
CAPTIONS = EVAL_DEV / "captions"

# Skipped where the data is absent (a clone without shared/ beside it), but never in CI, which has it.
without_real_captions = pytest.mark.skipif(
    not CAPTIONS.is_dir() and not os.environ.get("CI"),
    reason=f"no real caption files in {CAPTIONS} (set EVAL_DEV_DIR to the eval-dev directory)",
)
