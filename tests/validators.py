"""Where the pinned third-party validators (shared/validators: gha-lint,
argo-validate, prom-check, grafana-check) are, for the test suites.

In order: $TRIX_VALIDATORS_DIR; `../shared/validators` next to the
repository (how CI lays it out); and, for a clone of a local checkout (as
`git clone . /tmp/x && bash .ci/run` makes), `../shared/validators` next to
the checkout it was cloned from (its `origin` remote). The first that holds
gha-lint is the answer; when none does, the first candidate is returned so
the caller's "missing" message names the expected place.
"""

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def candidates():
    out = []
    if os.environ.get("TRIX_VALIDATORS_DIR"):
        out.append(Path(os.environ["TRIX_VALIDATORS_DIR"]))
    out.append((REPO.parent / "shared" / "validators").resolve())
    try:
        origin = subprocess.run(["git", "-C", str(REPO), "config", "--get", "remote.origin.url"], capture_output=True, text=True,
                                timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        origin = ""
    if origin and "://" not in origin and not origin.startswith("git@") and Path(origin).is_dir():
        out.append((Path(origin).resolve().parent / "shared" / "validators").resolve())
    return out


def validators_dir():
    cands = candidates()
    for c in cands:
        if (c / "gha-lint").exists():
            return c
    return cands[0]
