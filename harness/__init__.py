"""Host harness for ScaPre: installs and drives a real, pinned, headless ComfyUI 0.3.75.

The bootstrap modules (paths, install, server, test, browser) use only the standard library, so they
run under a bare system ``python3``; tiny_models and inprocess run inside the host venv, and demo and
ui_workflows re-run themselves there.
"""
