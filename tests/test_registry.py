"""`comfy node validate` (the Comfy Registry's check before publishing, comfy-cli pinned by harness.registry)
passes on the repository: pyproject.toml has a version, and ruff finds no exec, eval or several statements on one
line."""

from harness import registry


def test_comfy_node_validate_passes():
    done = registry.validate()
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "All validation checks passed successfully" in output and "Security warnings" not in output, output


def test_it_flags_what_the_registry_forbids(tmp_path):
    (tmp_path / "pyproject.toml").write_text((registry.paths.REPO / "pyproject.toml").read_text())
    (tmp_path / "bad.py").write_text('value = eval("1 + 1")\n')
    done = registry.validate(tmp_path)
    output = done.stdout + done.stderr
    assert "Security warnings" in output and "S307" in output
