"""Reading a model's effective weights: dequantised through ComfyUI's own accessors, with upstream patches, at
their logical shape; never written, never assumed to be materialised or writable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping

import comfy.lora
import comfy.model_management
import comfy.utils
import torch

from .families import UnsupportedModel

PLAIN = (torch.Tensor, torch.nn.Parameter)


def compute_device() -> torch.device:
    return comfy.model_management.get_torch_device()


def stored_format(weight, layer) -> str:
    """How a weight is stored, in words: its dtype, or its quantisation (scaled fp8, a QuantizedTensor layout,
    a GGUF type)."""
    layout = getattr(weight, "layout_type", None) or getattr(weight, "_layout_type", None)
    if layout is not None:
        return f"{type(weight).__name__} with layout {layout}"
    if getattr(weight, "tensor_type", None) is not None:
        return f"GGUF {getattr(weight.tensor_type, 'name', weight.tensor_type)}"
    name = str(weight.dtype).removeprefix("torch.")
    if getattr(layer, "scale_weight", None) is not None:
        return f"scaled {name}"
    return name if type(weight) in PLAIN else f"{type(weight).__name__} ({name})"


def logical_shape(layer) -> tuple[int, int] | None:
    """A linear layer's weight shape as it computes with it, [out, in] (None for other layers)."""
    if hasattr(layer, "in_features") and hasattr(layer, "out_features"):
        return (int(layer.out_features), int(layer.in_features))
    return None


def _key_patches(model) -> dict:
    """``model.get_key_patches("diffusion_model.")``; a model whose stored weights this ComfyUI fails to read is
    refused naming their format (ComfyUI 0.3.75 under torch 2.14 cannot detach its own QuantizedTensors in
    inference mode: its LoRA loaders and samplers fail on such a model the same way)."""
    try:
        return model.get_key_patches("diffusion_model.")
    except RuntimeError as err:
        found = next(((name, weight) for name, weight in model.model.named_parameters() if type(weight) not in PLAIN),
                     None)
        if found is None:
            raise
        name, weight = found
        layer = comfy.utils.get_attr(model.model, name.rsplit(".", 1)[0])
        raise UnsupportedModel(f"this ComfyUI cannot read this model's weights ({err}): {name} is stored as "
                               f"{stored_format(weight, layer)}, which its own LoRA loaders and samplers cannot use "
                               "either here: load the model in a plain or fp8 format, or update ComfyUI") from err


class EffectiveWeights(Mapping):
    """key -> the model's effective float32 weight (base, dequantised, plus upstream patches).

    Reads one tensor at a time onto ``device`` the way ComfyUI's own patching reads it: ``get_key_patches``
    gives the stored weight and its layer's ``convert_func``, which dequantises it (fp8 and scaled fp8 storage,
    ComfyUI's QuantizedTensor layouts; GGUF tensors are dequantised by their own layer), then the upstream
    patches (stacked LoRAs) are applied. Plain tensors are copied before converting; any other kind is
    converted out of place, so a base weight is never written. A weight that does not come out as a plain
    float tensor of its layer's logical shape is refused, naming its storage format. Accumulates a
    fingerprint of everything it read. Iterates over ``keys``; any other key of the model can be read too
    (e.g. the layers in front of the edited ones).
    """

    def __init__(self, model, keys: list[str], device: torch.device, patches: dict | None = None):
        self._model = model
        self._patches = _key_patches(model) if patches is None else patches
        self._keys = keys
        self._device = device
        self._digests: dict[str, str] = {}

    def module(self, prefix: str):
        """The model's module ``diffusion_model.<prefix>`` (for its settings, e.g. a norm's eps)."""
        return comfy.utils.get_attr(self._model.model, f"diffusion_model.{prefix}")

    def _layer(self, key: str):
        return comfy.utils.get_attr(self._model.model, key.rsplit(".", 1)[0])

    def __getitem__(self, key: str) -> torch.Tensor:
        (base, convert), *upstream = self._patches[key]
        layer = self._layer(key)
        if getattr(base, "tensor_type", None) is not None:  # GGUF: a quantised tensor, dequantised by its layer
            quantised = base.to(device=self._device, copy=True)
            quantised.patches = []  # the loader keeps the patches of the last load on the tensor: not the base
            weight = torch.Tensor(layer.get_weight(quantised, torch.float32))
        elif type(base) in PLAIN:
            weight = convert(comfy.model_management.cast_to_device(base.detach(), self._device, torch.float32,
                                                                   copy=True), inplace=True)
        else:  # a tensor subclass (a QuantizedTensor): its own conversion, never in place
            weight = convert(base.detach().to(device=self._device), inplace=False)
        shape = logical_shape(layer) if key.endswith(".weight") else None
        if type(weight) not in PLAIN or not weight.is_floating_point() or (
                shape is not None and tuple(weight.shape) != shape):
            raise UnsupportedModel(f"{key} is stored as {stored_format(base, layer)}, which ScaPre cannot read "
                                   f"exactly (it dequantises to {type(weight).__name__} {tuple(weight.shape)}, "
                                   f"the layer computes with {shape}): load the model in a plain or fp8 format")
        weight = weight.float()
        if upstream:
            weight = comfy.lora.calculate_weight(upstream, weight, key)
        data = weight.detach().to(device="cpu", dtype=torch.float16).contiguous().numpy().tobytes()
        self._digests[key] = hashlib.sha256(data).hexdigest()
        return weight

    def under(self, key: str, count: int) -> torch.Tensor:
        """The weight of ``key`` with only its first ``count`` patches applied: what the patch after them edits."""
        base, *patches = self._patches[key]
        return EffectiveWeights(self._model, [key], self._device, {key: [base, *patches[:count]]})[key]

    def select(self, keys: list[str]) -> EffectiveWeights:
        """The same reader (and fingerprint) iterating over ``keys``."""
        view = EffectiveWeights(self._model, keys, self._device, self._patches)
        view._digests = self._digests
        return view

    def text_width(self) -> int:
        """The logical input width d of the weights (their layer's, or the first weight's as read)."""
        shape = logical_shape(self._layer(self._keys[0]))
        return shape[1] if shape is not None else self[self._keys[0]].shape[1]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def fingerprint(self) -> str:
        """sha256 over (key, fp16 bytes) of every weight read so far, in key order."""
        total = hashlib.sha256()
        for key in sorted(self._digests):
            total.update(key.encode() + b"\0" + self._digests[key].encode())
        return total.hexdigest()
