"""Run the project's tests on the real host: python3 -m harness.test [pytest args] (default: all of tests/).

Installs the host if needed (harness.install.ensure_host), then replaces this process with the host venv's
pytest, run in REPO with REPO on PYTHONPATH, so the exit status is pytest's own (5 when no test ran).
"""
import os
import sys

from . import paths
from .install import ensure_host


def main(argv):
    try:
        ensure_host()
    except Exception as e:  # report, then fail: running the tests on a half-built host would mislead
        sys.exit(f"[harness.test] host install failed: {e}")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(paths.REPO), env.get("PYTHONPATH")]))
    os.chdir(paths.REPO)
    sys.stdout.flush()
    # -c: the config (and with it the rootdir, tests/) must not depend on which paths or options are given
    os.execve(paths.VENV_PY, [str(paths.VENV_PY), "-m", "pytest", "-c", str(paths.REPO / "tests" / "pytest.ini"),
                              *argv], env)


if __name__ == "__main__":
    main(sys.argv[1:])
