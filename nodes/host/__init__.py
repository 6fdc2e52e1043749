"""The host layer: every module of the pack that talks to ComfyUI lives in this package, one concern per module.

* ``families``   the families ScaPre edits: one row each (their text streams, encoders, saved files' name)
* ``layouts``    where a prompt's tokens sit in what its text encoder returns (CLIP, T5, chat-templated LLMs)
* ``features``   the model's own layers between the text encoder and the edited weights (norms, MLPs, means)
* ``weights``    reading a model's effective weights (dequantised, with upstream patches), never writing them
* ``text``       encoding prompts exactly as the model receives them
* ``plan``       what one edit reads: a family's streams, their weights and encoders
* ``patches``    adding the edit as a non-destructive patch, and finding it again
* ``files``      folders, file names and metadata of saved models
* ``prior_cache`` the preserve prior's cache in ComfyUI's user folder
* ``sampling``   the Erasure Preview's sampling
* ``node_api``   ComfyUI's V3 node API (the socket types and category of the nodes)

``families``, ``layouts`` and ``features`` import nothing from ComfyUI (tests and scripts can read the table);
the others do. Nothing outside this package imports ComfyUI (tests/test_host_boundary.py).
"""
