"""Where a prompt's tokens sit in what its text encoder returns: one ``layout(clip, tokens, text, rows)`` per kind
of encoder, giving the prompt's ``PromptLayout`` (``scapre_core.tokens``: segments of word tokens, end token,
padding) over the ``rows`` rows the encoder returned for it.

ComfyUI's token lists hold ``(token, weight, word id)`` with word id 0 exactly for start, end and padding tokens.
An LLM encoder reads the prompt inside a chat template with ``disable_weights=True``: every token of the
template and the prompt then has word id 1, and there is no start or end token, so the prompt's own tokens are
found between the tokenizer's own tokens for the template's two halves (``ChatLayout``).

Imports nothing from ComfyUI: it works on the token lists and the CLIP's tokenizer objects it is given.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...scapre_core import ConceptError
from ...scapre_core.tokens import CONTEXT_LENGTH, PromptLayout, Segment


def word_positions(chunk, start: int = 0) -> tuple[int, ...]:
    """Positions of a token chunk's word tokens: ComfyUI's word id is 0 exactly for start, end and padding."""
    return tuple(start + i for i, token in enumerate(chunk) if token[2] != 0)


def single_chunk(tokens, name: str, text: str):
    chunks = tokens[name]
    if len(chunks) > 1:
        count = sum(len(word_positions(c)) for c in chunks)
        raise ConceptError(f"{text!r} is {count} tokens long; a concept must fit in one 77-token chunk (at most "
                           f"{CONTEXT_LENGTH - 2} tokens)")
    return chunks[0]


def clip_segment(tokens, names: tuple[str, ...], text: str) -> Segment:
    """A 77-token CLIP chunk: start token at 0, the words, the end token, padding (the same for CLIP-L and G)."""
    words = {name: word_positions(single_chunk(tokens, name, text)) for name in names}
    if len(set(words.values())) > 1:
        raise ConceptError(f"{text!r} tokenises differently for {sorted(words)}: "
                           f"{ {name: len(w) for name, w in words.items()} }")
    found = words[names[0]]
    return Segment(0, found, (found[-1] if found else 0) + 1, CONTEXT_LENGTH)


def t5_segment(chunk, start: int) -> Segment:
    """A T5 sequence from ``start``: the words (no start token), the end token ``</s>``, then any padding."""
    words = word_positions(chunk, start)
    return Segment(start, words, words[-1] + 1 if words else start, start + len(chunk))


def t5_layout(name: str):
    """The layout of a prompt whose conditioning is one T5 sequence (tokens[name]): FLUX.1, Chroma, Wan."""
    def layout(clip, tokens, text: str, rows: int) -> PromptLayout:
        return (t5_segment(tokens[name][0], 0),)
    return layout


def sd3_layout(clip, tokens, text: str, rows: int) -> PromptLayout:
    """SD3's conditioning: the 77 CLIP-L/G rows (zero-padded to 4096 features), then the T5 rows from row 77.

    Either block is absent when the CLIP has no such encoder (e.g. CLIPLoader with CLIP-L alone: 77 rows).
    """
    encoder = clip.cond_stage_model
    clips = tuple(name for name in ("l", "g") if getattr(encoder, f"clip_{name}", None) is not None)
    segments = (clip_segment(tokens, clips, text),) if clips else ()
    if getattr(encoder, "t5xxl", None) is not None:
        segments += (t5_segment(tokens["t5xxl"][0], CONTEXT_LENGTH if clips else 0),)
    return segments


def pooled_layout(clip, tokens, text: str, rows: int) -> PromptLayout:
    """A pooled vector: one position, which is the prompt's one "word" (no end token)."""
    for name in ("l", "g"):
        if name in tokens:
            single_chunk(tokens, name, text)  # the pooled vector is the first chunk's: the concept must fit in it
    return (Segment(0, (0,), None, 1),)


def _template_ids(tokenizer, part: str) -> list[int]:
    """The tokenizer's own tokens for a piece of a chat template (no start token, no padding)."""
    if not part:
        return []
    (chunk, *rest) = tokenizer.tokenize_with_weights(part, return_word_ids=True, disable_weights=True)
    return [token for token, _, word in chunk if word != 0]


@dataclass(frozen=True)
class ChatLayout:
    """The layout of a prompt read by a causal LLM (tokens[name]), inside its tokenizer's chat template if it has
    one (the CLIP tokenizer's ``llama_template``, e.g. Z-Image's ``<|im_start|>user\\n{}<|im_end|>\\n...``).

    The prompt's words are the tokens between the tokenizer's own tokens for the template's two halves; the
    first token after them (the template's end of turn, ``<|im_end|>``, ``[/INST]``) or, without a template, the
    first padding token (HiDream's ``<|eot_id|>``) is the end token, and the rows after it the segment's
    "padding". The segment starts at the first word. The states are causal: the template's rows before the
    words are the same in every prompt (they have seen nothing of it), so no alignment erases them and every
    preserved prompt keeps them. The end token's row has read the whole prompt, but it is the template's token,
    alike in every prompt: an edit of it moves every prompt (on the tiny models, aligning it doubled a preserved
    prompt's change), so these families align the words alone ("words"). An encoder that drops the template's
    first rows inside ``encode`` (Qwen-Image) returns fewer rows than there are tokens: the dropped ones are
    the first.
    """

    name: str

    def __call__(self, clip, tokens, text: str, rows: int) -> PromptLayout:
        chunk = single_chunk(tokens, self.name, text)
        tokenizer = getattr(clip.tokenizer, self.name)
        prefix, _, suffix = getattr(clip.tokenizer, "llama_template", "{}").partition("{}")
        before, after = _template_ids(tokenizer, prefix), _template_ids(tokenizer, suffix)
        content = word_positions(chunk)
        ids = [chunk[i][0] for i in content]
        inside = len(ids) - len(after)
        if inside < len(before) or ids[:len(before)] != before or ids[inside:] != after:
            raise ConceptError(f"{text!r} merges with the tokens of the text encoder's chat template "
                               f"{prefix + '{}' + suffix!r}: start and end it with a letter or a digit")
        words = content[len(before):inside]
        if after:
            end = content[inside]
        else:  # the first padding token after the prompt, if the tokenizer pads
            following = range(content[-1] + 1 if content else 0, len(chunk))
            end = next((i for i in following if chunk[i][0] == tokenizer.pad_token and chunk[i][2] == 0), None)
        cut = len(chunk) - rows  # rows the encoder dropped from the front (Qwen-Image: the system prompt)
        shifted = [p - cut for p in (*words, *(() if end is None else (end,)))]
        if cut < 0 or any(p < 0 for p in shifted):
            raise ConceptError(f"the text encoder returned {rows} rows for {text!r}, which has {len(chunk)} tokens; "
                               "its words are not among them")
        words, end = tuple(shifted[:len(words)]), (shifted[-1] if end is not None else None)
        start = words[0] if words else (end if end is not None else rows - 1)
        return (Segment(start, words, end, rows),)
