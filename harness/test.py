"""Run the project's tests on the real host: python3 -m harness.test [pytest args] (default: all of tests/).

Installs the host if needed (harness.install.ensure_host), then replaces this process with the host venv's
pytest, run in REPO with REPO on PYTHONPATH, so the exit status is pytest's own (5 when no test ran).
"""
import sys

from . import paths
from .install import ensure_host, exec_in_venv


def main(argv):
    try:
        ensure_host()
    except Exception as e:  # report, then fail: running the tests on a half-built host would mislead
        sys.exit(f"[harness.test] host install failed: {e}")
    # -c: the config (and with it the rootdir, tests/) must not depend on which paths or options are given
    exec_in_venv("pytest", "-c", paths.REPO / "tests" / "pytest.ini", *argv)


if __name__ == "__main__":
    main(sys.argv[1:])
