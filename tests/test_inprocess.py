"""harness.inprocess builds the in-process executor's cache arguments from the host's own execution module."""

import types

from harness import inprocess, paths


def _module(tmp_path, source: str):
    path = tmp_path / "execution.py"
    path.write_text(source)
    return types.SimpleNamespace(__file__=str(path))


def test_the_keys_are_the_ones_the_host_reads():
    host = types.SimpleNamespace(__file__=str(paths.COMFY_DIR / "execution.py"))
    assert inprocess.cache_arguments(host) == {"ram": 0}  # ComfyUI 0.3.75


def test_a_newer_host_gets_its_new_keys(tmp_path):
    # the two reads the review of ComfyUI 0.38.1 found in execute_async (shared/docs/comfy_compat.md), and a
    # read with a default, which needs no key
    newer = _module(tmp_path, 'headroom = self.cache_args["ram"]\ninactive = self.cache_args[\'ram_inactive\']\n'
                              'size = cache_args.get("lru", 0)\n')
    assert inprocess.cache_arguments(newer) == {"ram": 0, "ram_inactive": 0}
