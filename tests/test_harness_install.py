"""harness.install refuses to start on a disk that cannot hold the host and what the tests write."""

import shutil
from collections import namedtuple

import pytest

from harness import install, paths

Usage = namedtuple("Usage", "total used free")


@pytest.mark.parametrize("built, free_gib, refused", [
    (True, install.TESTS_GIB + 0.5, False),
    (True, install.TESTS_GIB - 0.5, True),
    (False, install.TESTS_GIB + 0.5, True),  # a fresh host needs its own room too
    (False, install.HOST_GIB + install.TESTS_GIB + 0.5, False),
])
def test_check_room(monkeypatch, built, free_gib, refused):
    monkeypatch.setattr(install, "_stamped", lambda folder, value: built)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(0, 0, int(free_gib * 2**30)))
    if not refused:
        install.check_room()
        return
    with pytest.raises(RuntimeError) as error:
        install.check_room()
    assert f"the disk holding {paths.CACHE} has {free_gib:.1f} GiB free" in str(error.value)
