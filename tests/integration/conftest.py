"""Fixtures for integration tests on the real ComfyUI 0.3.75 host that harness/ installs under .cache/host.

Run them with `python3 -m harness.test tests/integration` (installs the host first if needed).
  host           session: the harness.paths module, once the host is installed (fails, never skips, if it can't be)
  comfy_server   session: a running harness.server.ComfyServer with our pack in custom_nodes/, writing its
                 images to a temporary output folder (comfy_server.output_dir); stopped at the end
  frontend       module: harness.browser.ComfyFrontend on comfy_server (headless Chromium), with .load_log
  recipe_values  session: {recipe: {ScaPre Options widget: value}}, from ScaPre Unlearn's node definition
  default_recipe session: the recipe a new ScaPre Unlearn shows, from its node definition
  workflow       session: load an API-format workflow (a JSON path, REPO-relative or absolute, or a dict) as a
                 fresh dict, optionally pointing every ckpt_name input at another checkpoint
"""
import copy
import json
from pathlib import Path

import pytest

from harness import paths
from harness.browser import ComfyFrontend
from harness.install import ensure_host
from harness.server import ComfyServer


@pytest.fixture(scope="session")
def host():
    try:
        ensure_host()  # a quick no-op when `python3 -m harness.install` has run
    except Exception as e:
        pytest.fail(f"the ComfyUI host under {paths.CACHE} is missing and could not be installed: {e}\n"
                    "run `python3 -m harness.install` and read its output", pytrace=False)
    return paths


@pytest.fixture(scope="session")
def comfy_server(host, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("comfy_output")
    with ComfyServer(["--output-directory", output_dir]) as server:
        server.output_dir = output_dir
        yield server


@pytest.fixture(scope="module")
def frontend(comfy_server):
    """The real frontend, served by comfy_server, in a headless Chromium page opened for the test module.

    ``frontend.load_log`` holds the browser console messages of the page load.
    """
    try:
        fe = ComfyFrontend(comfy_server)
    except Exception as e:
        pytest.fail(f"could not open the ComfyUI frontend in headless Chromium: {e}", pytrace=False)
    with fe:
        fe.load_log = fe.driver.browser_log()
        yield fe


@pytest.fixture(scope="session")
def recipe_values(comfy_server):
    """What each recipe puts into ScaPre Options, as the server describes it to the frontend."""
    return comfy_server.object_info("ScaPreUnlearn")["input"]["optional"]["options"][1]["recipe_values"]


@pytest.fixture(scope="session")
def default_recipe(comfy_server):
    """The recipe a new ScaPre Unlearn node shows, as the server describes it to the frontend."""
    return comfy_server.object_info("ScaPreUnlearn")["input"]["required"]["recipe"][1]["default"]


@pytest.fixture(scope="session")
def workflow():
    def load(source, ckpt_name=None):
        if isinstance(source, dict):
            prompt = copy.deepcopy(source)
        else:
            prompt = json.loads((paths.REPO / Path(source)).read_text())
        if ckpt_name is not None:
            for node in prompt.values():
                if "ckpt_name" in node.get("inputs", {}):
                    node["inputs"]["ckpt_name"] = ckpt_name
        return prompt

    return load
