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
BASE_SUBDIRS = ("custom_nodes", "models/checkpoints", "models/diffusion_models", "models/text_encoders",
                "models/vae_approx", "input", "output", "temp", "user")
PACK_LINK_NAME = "scapre"
PACK_LINK = BASE_DIR / "custom_nodes" / PACK_LINK_NAME  # symlink -> REPO
CHECKPOINTS = BASE_DIR / "models" / "checkpoints"
DIFFUSION_MODELS = BASE_DIR / "models" / "diffusion_models"
TEXT_ENCODERS = BASE_DIR / "models" / "text_encoders"
VAE_APPROX = BASE_DIR / "models" / "vae_approx"
TINY_SD15 = "tiny_sd15.safetensors"
TINY_SDXL = "tiny_sdxl.safetensors"
TOY = "toy_names.safetensors"  # the toy world v3 (toy/): trained, so erasures are visible; the demo's model
TINY_SD3 = "tiny_sd3.safetensors"  # SD3, loaded with "Load Diffusion Model", its CLIP with CLIPLoader (type sd3)
TINY_SD3_CHECKPOINT = "tiny_sd3_checkpoint.safetensors"  # the same SD3 with CLIP-L and TAESD3 in one checkpoint
TINY_CLIP_L = "tiny_clip_l.safetensors"  # a random CLIP-L text encoder (models/text_encoders)
TAESD3 = "taesd3"  # VAELoader's name for models/vae_approx/taesd3_{encoder,decoder}.safetensors (random)
TINY_HUNYUAN_VIDEO = "tiny_hunyuan_video.safetensors"  # a family ScaPre refuses, loaded with "Load Diffusion Model"
# The newest frontend (comfyui-frontend-package), served with --front-end-root beside the pinned one in the venv
NEWEST_FRONTEND_VERSION = "1.58.1"
NEWEST_FRONTEND_DIR = CACHE / f"frontend-{NEWEST_FRONTEND_VERSION}"
# Debian's chromium and chromium-driver (harness.install installs them, harness.browser drives them)
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def repo_env() -> dict:
    """This process's environment with REPO first on PYTHONPATH: for a child Python that imports the repository."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
