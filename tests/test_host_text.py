"""nodes.host.text.tokenize: prompts are tokenised literally (``disable_weights=True``), except by the Qwen
tokenizers of ComfyUI 0.3.75 (Qwen-Image, Z-Image), which pass ``disable_weights`` themselves and so raise a
TypeError naming it when it is given again; they are asked without it. Any other TypeError is the tokenizer's
own failure and reaches the user. (The real Qwen tokenizers go through this in
tests/integration/test_families.py; these stand-ins raise the host's two kinds of error on demand.)"""

import pytest

import pack

text = pack.module("nodes.host.text")


class Tokenizer:
    """A CLIP's ``tokenize`` that records its calls and raises ``error`` when asked with disable_weights."""

    def __init__(self, error=None):
        self.error, self.calls = error, []

    def tokenize(self, prompt, return_word_ids=False, **options):
        self.calls.append(options)
        if self.error is not None and "disable_weights" in options:
            raise self.error
        return {"tokens": [[(1, 1.0, 1)]]}


def test_a_prompt_is_tokenised_literally():
    clip = Tokenizer()
    assert text.tokenize(clip, "a (cat:1.2)") == {"tokens": [[(1, 1.0, 1)]]}
    assert clip.calls == [{"disable_weights": True}]


def test_a_tokenizer_that_passes_disable_weights_itself_is_asked_without_it():
    clip = Tokenizer(TypeError("tokenize_with_weights() got multiple values for keyword argument "
                               "'disable_weights'"))
    assert text.tokenize(clip, "a cat") == {"tokens": [[(1, 1.0, 1)]]}
    assert clip.calls == [{"disable_weights": True}, {}]


def test_any_other_type_error_reaches_the_user():
    clip = Tokenizer(TypeError("unsupported operand type(s) for +: 'int' and 'str'"))
    with pytest.raises(TypeError, match="unsupported operand"):
        text.tokenize(clip, "a cat")
    assert clip.calls == [{"disable_weights": True}]
