"""The model's own layers between its text encoder and the weights ScaPre edits: what the edited layer really sees.

Each ``features(weights, x)`` maps a prompt's rows ``x`` [S, e] (the encoder's output) to the edited layer's
input [S', d], computed with the model's effective weights (``weights[key]``, which also reads the layers in
front of the edited ones, with their patches) and the module's own settings (``weights.module(prefix)``).
Imports nothing from ComfyUI.
"""

from __future__ import annotations

import torch


def wan_text_embedding(weights, x: torch.Tensor) -> torch.Tensor:
    """Wan's ``text_embedding`` (Linear, tanh-approximated GELU, Linear) with the model's effective weights."""
    prefix = "diffusion_model.text_embedding."
    hidden = torch.nn.functional.linear(x, weights[prefix + "0.weight"], weights[prefix + "0.bias"])
    hidden = torch.nn.functional.gelu(hidden, approximate="tanh")
    return torch.nn.functional.linear(hidden, weights[prefix + "2.weight"], weights[prefix + "2.bias"])


def rms_norm(prefix: str):
    """The model's RMSNorm ``prefix`` (e.g. Z-Image's ``cap_embedder.0``, Qwen-Image's ``txt_norm``): each row
    divided by its root mean square (with the module's own eps), times the norm's gain."""
    def features(weights, x: torch.Tensor) -> torch.Tensor:
        gain = weights[f"diffusion_model.{prefix}.weight"]
        return torch.nn.functional.rms_norm(x, gain.shape, gain, weights.module(prefix).eps)
    return features


def row_mean(weights, x: torch.Tensor) -> torch.Tensor:
    """The mean of a prompt's rows as one row: HunyuanVideo 1.5's token refiner feeds it to its ``c_embedder``."""
    return x.mean(dim=0, keepdim=True)
