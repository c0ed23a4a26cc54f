"""Reading a generated Makefile's variables with make itself, so values are exactly what make
would use (includes, overrides and nested references all expanded)."""
from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from ..errors import UserError

MAKE_FRAGMENTS = Path(__file__).with_name("make")
PRINT_MK = MAKE_FRAGMENTS / "print.mk"


def make_variables(directory: Path, names: Sequence[str], makefile: str = "Makefile") -> dict[str, str]:
    """The expanded values of `names` in directory/makefile."""
    command = ["make", "-s", "--no-print-directory", "-f", makefile, "-f", str(PRINT_MK),
               *[f"print-{name}" for name in names]]
    result = subprocess.run(command, cwd=directory, capture_output=True, text=True)
    lines = result.stdout.splitlines()
    if result.returncode != 0 or len(lines) < len(names):
        raise UserError(f"Could not read {', '.join(names)} from {directory / makefile}: "
                        f"{result.stderr.strip()[-600:] or 'no output'}. The build directory may be "
                        "incomplete; delete it and run again.")
    return dict(zip(names, (line.strip() for line in lines[-len(names):]), strict=True))
