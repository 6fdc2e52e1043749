"""The Comfy Registry's own check of the pack: `comfy node validate` (comfy-cli), pinned, in its own venv.

usage: python3 -m harness.registry        (prints comfy-cli's output; exit status is its own)

comfy-cli and the ruff it runs are installed once into REPO/.cache/comfy-cli (git-ignored, separate from the
host venv, whose pins they would disturb), at the versions below; a stamp records them. `comfy node validate`
reads pyproject.toml (a version is required) and runs `ruff check --select S102,S307,E702` (exec, eval,
several statements on one line) over the git-tracked tree; `comfy node publish` runs the same before it zips
the pack.

Cost in a fresh clone (docs/BENCHMARKS.md): the install, once, from PyPI only; `node validate` itself reaches no
network (telemetry off, and comfy-cli's daily PyPI version check, which only its welcome banner runs, is
disabled by COMFY_NO_UPDATE_CHECK).
"""
import subprocess
import sys
import venv

from . import paths

PINS = ("comfy-cli==1.23.0", "ruff==0.17.6")
VENV = paths.REPO / ".cache" / "comfy-cli"
COMFY = VENV / "bin" / "comfy"
STAMP = VENV / ".harness-stamp"


def ensure_comfy_cli() -> str:
    """Install the pinned comfy-cli into VENV unless the stamp says it is there; return what was done."""
    want = " ".join(PINS)
    if STAMP.is_file() and STAMP.read_text() == want and COMFY.is_file():
        return "up to date"
    venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    subprocess.run([str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", *PINS], check=True)
    STAMP.write_text(want)
    return f"installed {want} in {VENV}"


def validate(folder=paths.REPO) -> subprocess.CompletedProcess:
    """`comfy node validate` in ``folder`` (the repository), as the registry runs it before publishing."""
    ensure_comfy_cli()
    return subprocess.run([str(COMFY), "--skip-prompt", "--no-enable-telemetry", "node", "validate"],
                          cwd=folder, capture_output=True, text=True, timeout=300,
                          env={"PATH": f"{VENV / 'bin'}:/usr/bin:/bin", "HOME": str(VENV), "COMFY_NO_UPDATE_CHECK": "1"})


if __name__ == "__main__":
    done = validate()
    print(done.stdout + done.stderr)
    sys.exit(done.returncode)
