"""Run API-format prompts through ComfyUI's real execution engine inside this process, without the HTTP server.

Must run in the host venv (it imports ComfyUI and torch), before anything else in the process imports ComfyUI's
folder_paths. Library use:

    from harness import inprocess
    inprocess.init()                               # once per process; later calls are no-ops
    result = inprocess.run_prompt(prompt)          # {"success", "outputs", "errors", "node_errors"}
    host = inprocess.pack_host()                   # the pack's nodes/host modules, as ComfyUI loaded them

Command line (one process start and node init for several prompts; prints the list of their results as JSON
on stdout; exit status 0 only if all succeeded):

    VENV_PY -m harness.inprocess PROMPT.json [PROMPT.json ...] [--output-directory DIR]

init() configures ComfyUI as `main.py --cpu --base-directory BASE_DIR --disable-api-nodes
--disable-all-custom-nodes --whitelist-custom-nodes scapre` would, loads the core and our pack's nodes, and
run_prompt() validates with execution.validate_prompt before executing with execution.PromptExecutor.
Packs that need server.PromptServer.instance at import time (route registration) need the real server.
"""
import argparse
import asyncio
import contextlib
import importlib
import json
import os
import pkgutil
import re
import sys
import types
import uuid

from . import paths

_config = None  # the settings init() applied; None until then


class _NullServer:
    """The parts of server.PromptServer that PromptExecutor touches, doing nothing."""

    client_id = None
    last_node_id = None
    last_prompt_id = None
    sockets_metadata = {}

    def send_sync(self, *args, **kwargs):
        pass

    def queue_updated(self, *args, **kwargs):
        pass


def init(output_directory=None, whitelist=(paths.PACK_LINK_NAME,)):
    """Make ComfyUI importable, configure it and load its nodes plus the whitelisted packs (idempotent).

    Returns the applied settings; a second call with different settings raises, since ComfyUI cannot be
    re-initialised within one process.
    """
    global _config
    config = {"output_directory": output_directory and os.path.abspath(output_directory), "whitelist": list(whitelist)}
    if _config is not None:
        if config != _config:
            raise RuntimeError(f"ComfyUI is already initialised in this process with {_config}")
        return _config
    if "folder_paths" in sys.modules:
        raise RuntimeError("folder_paths was imported before harness.inprocess.init(); call init() first")
    comfy_dir = str(paths.COMFY_DIR)
    if comfy_dir not in sys.path:
        sys.path.insert(0, comfy_dir)
    from comfy.cli_args import args  # parsed from [] (defaults): set what main.py's command line would

    args.cpu = True
    args.base_directory = str(paths.BASE_DIR)
    args.disable_api_nodes = True
    args.disable_all_custom_nodes = True
    args.whitelist_custom_nodes = list(whitelist)
    import folder_paths  # reads args.base_directory at import

    # As in main.py, import ComfyUI's utils/ package before any node module does: otherwise the top-level name
    # `utils` ends up bound elsewhere and comfy_extras/nodes_images.py fails with
    # "No module named 'utils.install_util'; 'utils' is not a package".
    import utils.extra_config  # noqa: F401

    if output_directory:
        folder_paths.set_output_directory(config["output_directory"])
    import nodes

    asyncio.run(nodes.init_extra_nodes(init_custom_nodes=True, init_api_nodes=False))
    _config = config
    return _config


def cache_arguments(execution):
    """``cache_args`` for the host's PromptExecutor: every key its execution module reads from them without a
    default (ComfyUI 0.3.75: "ram"; 0.38: "ram" and "ram_inactive"), read from the host's own source so a newer
    host gets the keys it needs, each 0: no LRU size and no RAM headroom, which is what main.py passes with the
    classic cache (a fresh executor per prompt keeps nothing between prompts anyway)."""
    with open(execution.__file__) as f:
        source = f.read()
    return {key: 0 for key in sorted(set(re.findall(r"cache_args\[[\"'](\w+)[\"']\]", source)))}


def pack_host():
    """The pack's host layer (nodes/host/) as ComfyUI loaded it: a namespace with each of its modules, e.g.
    ``pack_host().families.family_of(model)``."""
    if _config is None:
        raise RuntimeError("call harness.inprocess.init() first")
    import nodes

    root = nodes.NODE_CLASS_MAPPINGS["ScaPreUnlearn"].__module__.rsplit(".nodes.", 1)[0]
    package = importlib.import_module(f"{root}.nodes.host")
    return types.SimpleNamespace(**{m.name: importlib.import_module(f"{package.__name__}.{m.name}")
                                    for m in pkgutil.iter_modules(package.__path__)})


def run_prompt(prompt, extra_data=None):
    """Validate and execute one API-format prompt; return {success, outputs, errors, node_errors}.

    `outputs` maps output node ids to their UI results (e.g. {"images": [{filename, subfolder, type}]}),
    `errors` lists the validation error or the execution_error messages. Each call uses a fresh executor,
    so nothing is cached between calls (models are loaded again).
    """
    if _config is None:
        raise RuntimeError("call harness.inprocess.init() first")
    import execution

    prompt_id = str(uuid.uuid4())
    valid, error, good_outputs, node_errors = asyncio.run(execution.validate_prompt(prompt_id, prompt, None))
    if not valid:
        return {"success": False, "outputs": {}, "errors": [error], "node_errors": node_errors}
    executor = execution.PromptExecutor(_NullServer(), cache_type=execution.CacheType.CLASSIC,
                                        cache_args=cache_arguments(execution))
    executor.execute(prompt, prompt_id, extra_data or {}, good_outputs)
    errors = [data for event, data in executor.status_messages if event == "execution_error"]
    return {"success": bool(executor.success), "outputs": executor.history_result.get("outputs", {}),
            "errors": errors, "node_errors": node_errors}


def main():
    ap = argparse.ArgumentParser(description="Run API-format prompts in-process through ComfyUI's PromptExecutor.")
    ap.add_argument("prompts", nargs="+", metavar="PROMPT.json", help="API-format workflow JSON files, run in order")
    ap.add_argument("--output-directory", help="where SaveImage writes (default BASE_DIR/output)")
    a = ap.parse_args()
    prompts = []
    for path in a.prompts:
        with open(path) as f:
            prompts.append(json.load(f))
    with contextlib.redirect_stdout(sys.stderr):  # keep stdout for the JSON results alone
        init(output_directory=a.output_directory)
        results = [run_prompt(p) for p in prompts]
    print(json.dumps(results, default=str))
    sys.exit(0 if all(r["success"] for r in results) else 1)


if __name__ == "__main__":
    main()
