"""Filesystem layout of the cached ComfyUI host (all under the git-ignored REPO/.cache/host)."""
import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HARNESS = REPO / "harness"
CACHE = REPO / ".cache" / "host"
VENV = CACHE / "venv"
VENV_PY = VENV / "bin" / "python"
DOWNLOADS = CACHE / "dl"
COMFY_DIR = CACHE / "ComfyUI"
# Passed as --base-directory: ComfyUI looks up custom_nodes/, models/, input/, output/, temp/, user/ here,
# so the extracted ComfyUI tree is never written to.
BASE_DIR = CACHE / "base"
BASE_SUBDIRS = ("custom_nodes", "models/checkpoints", "models/diffusion_models", "input", "output", "temp", "user")
PACK_LINK_NAME = "scapre"
PACK_LINK = BASE_DIR / "custom_nodes" / PACK_LINK_NAME  # symlink -> REPO
CHECKPOINTS = BASE_DIR / "models" / "checkpoints"
DIFFUSION_MODELS = BASE_DIR / "models" / "diffusion_models"
TINY_SD15 = "tiny_sd15.safetensors"
TINY_SDXL = "tiny_sdxl.safetensors"
TOY = "toy_shapes.safetensors"  # the toy world (toy/): trained, so erasures are visible; the demo's model
TINY_SD3 = "tiny_sd3.safetensors"  # a family ScaPre refuses, loaded with "Load Diffusion Model"
# Debian's chromium and chromium-driver (harness.install installs them, harness.browser drives them)
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def repo_env() -> dict:
    """This process's environment with REPO first on PYTHONPATH: for a child Python that imports the repository."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
