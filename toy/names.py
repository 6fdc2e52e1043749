"""The toy world v3: names a user would type, each drawn as one visual of the v2 renderer (issue 14).

v2's concepts were compositions of 22 words, so its whole text lived in a ~22-dimensional subspace and ten
erasures erased everything. Here a concept is a NAME out of a vocabulary with real word semantics (the
encoder, ``toy/wordclip.py``, reads them from the wordllama table), as in the published benchmarks
(Imagenette-10, Confuse5, artists, celebrities). The pictures are v2's: 12 shapes x 6 colours x 4 styles = 288
visuals (``world.CONCEPTS``), so v2's renderer, oracle and TAESD are reused unchanged (their accuracies are v2's,
toy/weights/build.json).

* Names: every name draws one visual of its own (shape, colour, default style); no two names share one, so the
  oracle tells every name apart. Which visual is arbitrary (a seeded assignment), as a real model's pictures of
  "tench" owe nothing to the word's letters.
* Look-alike groups (the analogue of Confuse5): names related in language (dog breeds, citrus fruits, boats...)
  drawn alike: one colour, the three shapes of one v2 look-alike triple, and one style for the first three members
  (the fourth to sixth take the style's look-alike, ``STYLE_LOOKALIKE``, on the same three shapes). The words of a
  group's names occur in no name outside the group.
* Artists: four names, each a rendering style: "a tiger by Claude Monet" draws the tiger's shape and colour in
  Monet's style (dotted). Erasing an artist must remove the style and keep the object.
* Phrasings: every name in six (``PHRASINGS``), the first the canonical one benchmarks erase; two are held out of
  anything a recipe lists (plain lists or the pack's expansion, ``scapre_core/expand.py``).

Pure Python; no torch, no ComfyUI.
"""

from __future__ import annotations

import random
import zlib

from . import world

GROUPS = {
    "retrievers": ("golden retriever", "labrador retriever", "flat-coated retriever", "curly-coated retriever",
                   "chesapeake bay retriever"),
    "citrus fruits": ("lemon", "lime", "orange", "grapefruit", "tangerine"),
    "boats": ("fishing boat", "sailing boat", "speed boat", "paddle boat", "house boat"),
    "owls": ("barn owl", "snowy owl", "great horned owl", "tawny owl"),
    "guitars": ("acoustic guitar", "electric guitar", "bass guitar", "classical guitar"),
    "sharks": ("hammerhead shark", "mako shark", "reef shark", "nurse shark"),
    "trucks": ("garbage truck", "fire truck", "tow truck", "dump truck", "pickup truck"),
    "berries": ("strawberry", "blueberry", "raspberry", "blackberry", "cranberry"),
    "chairs": ("rocking chair", "office chair", "folding chair", "dining chair", "deck chair"),
}
"""Look-alike groups: related in language and drawn alike (at most six members: the six visuals of one slot)."""

UNGROUPED = (
    # Imagenette-10's names (its "garbage truck" is in the trucks group)
    "tench", "English springer", "cassette player", "chain saw", "church", "French horn", "gas pump", "golf ball",
    "parachute",
    # animals
    "tiger", "lion", "zebra", "giraffe", "elephant", "kangaroo", "penguin", "dolphin", "octopus", "jellyfish",
    "flamingo", "peacock", "parrot", "toucan", "ostrich", "camel", "llama", "panda", "koala", "rhinoceros",
    "hippopotamus", "crocodile", "tortoise", "chameleon", "iguana", "scorpion", "spider", "butterfly", "dragonfly",
    "ladybug", "beetle", "snail", "lobster", "crab", "starfish", "seahorse", "squirrel", "rabbit", "hedgehog",
    "beaver", "otter", "raccoon", "fox", "wolf", "moose", "bison", "gorilla", "chimpanzee", "sloth", "armadillo",
    "porcupine", "pigeon", "swan", "pelican", "woodpecker", "hummingbird", "vulture", "goldfish", "frog", "lizard",
    "cobra", "walrus", "hamster", "donkey", "horse", "cow", "pig", "sheep", "goat", "chicken", "duck",
    # instruments and devices
    "violin", "piano", "trumpet", "drum", "harp", "accordion", "saxophone", "microscope", "telescope", "compass",
    "hourglass", "clock", "camera", "telephone", "headphones", "microphone", "radio", "television", "laptop",
    "keyboard", "calculator", "toaster", "kettle", "teapot", "microwave", "refrigerator", "ceiling fan",
    "light bulb", "battery", "magnet", "thermometer", "stethoscope", "syringe",
    # vehicles
    "bicycle", "scooter", "skateboard", "helicopter", "airplane", "rocket", "submarine", "tractor", "ambulance",
    "bulldozer", "locomotive", "canoe", "kayak", "motorcycle", "tram", "hot air balloon",
    # tools and things
    "hammer", "screwdriver", "wrench", "scissors", "ladder", "wheelbarrow", "anchor", "umbrella", "lantern",
    "candle", "backpack", "suitcase", "wallet", "necklace", "crown", "helmet", "sombrero", "kimono", "sneaker",
    "sandal", "glove", "scarf", "sock", "pillow", "blanket", "bathtub", "toilet", "sofa", "lamp", "mirror", "vase",
    "bucket", "basket", "envelope", "pencil", "crayon", "notebook", "dice", "chessboard", "kite", "trophy", "medal",
    "padlock", "toothbrush", "comb", "soap", "towel", "sponge", "broom", "mop", "shovel", "rake", "axe", "sword",
    "shield", "cannon", "satellite", "globe", "flag", "snowman", "scarecrow", "totem pole",
    # places and nature
    "lighthouse", "windmill", "castle", "pyramid", "igloo", "tent", "bridge", "fountain", "volcano", "waterfall",
    "skyscraper", "pagoda", "cactus", "sunflower", "tulip", "mushroom",
    # food
    "pineapple", "banana", "watermelon", "cherry", "coconut", "avocado", "broccoli", "carrot", "pumpkin",
    "eggplant", "pretzel", "croissant", "pizza", "hamburger", "sandwich", "doughnut", "cupcake", "pancake",
    "waffle", "cheese", "sushi", "taco", "burrito", "popcorn", "chocolate", "lollipop",
)
"""Names in no group, pairwise unrelated in the sense that no two share a word."""

ARTISTS = {"Claude Monet": "dotted", "Vincent van Gogh": "striped", "Pablo Picasso": "outlined",
           "Katsushika Hokusai": "filled"}
"""Each artist's rendering style (a v2 style)."""

STYLE_LOOKALIKE = {"filled": "outlined", "outlined": "filled", "striped": "dotted", "dotted": "striped"}

PHRASINGS = ("an image of {a} {n}", "{n}", "a photo of {a} {n}", "a picture of {a} {n}", "{a} {n}, high quality",
             "a drawing of {a} {n}")
"""A name's phrasings; the first is canonical (what the benchmarks erase and measure first)."""
HELD_OUT = (4, 5)
"""Phrasings no recipe lists: neither a plain name nor the pack's expansion ("a photo of {c}", ...) produces them."""
ARTIST_PHRASING = "{a} {n} by {artist}"
SEED = 3


def article(name: str) -> str:
    return "an" if name[0].lower() in "aeiou" else "a"


def phrase(name: str, phrasing: int = 0) -> str:
    """A name in one of the PHRASINGS: "an image of a tiger" (0), "tiger" (1), ..."""
    return PHRASINGS[phrasing].format(a=article(name), n=name)


def by_artist(name: str, artist: str) -> str:
    """"a tiger by Claude Monet"."""
    return ARTIST_PHRASING.format(a=article(name), n=name, artist=artist)


def _assign() -> dict[str, int]:
    """name -> visual index (``world.CONCEPTS``): groups take whole slots (colour, look-alike triple, style pair),
    then the ungrouped names fill the visuals of the remaining slots in a seeded order."""
    rng = random.Random(SEED)
    slots = [(c, t, y) for c in world.COLOURS for t in range(len(world.SHAPE_GROUPS)) for y in ("filled", "striped")]
    rng.shuffle(slots)
    out = {}
    for (c, t, y), members in zip(slots, GROUPS.values()):
        styles = (y,) * 3 + (STYLE_LOOKALIKE[y],) * 3
        for k, name in enumerate(members):
            out[name] = world.concept_index(c, world.SHAPE_GROUPS[t][k % 3], styles[k])
    free = [world.concept_index(c, s, y2) for c, t, y in slots[len(GROUPS):] for s in world.SHAPE_GROUPS[t]
            for y2 in (y, STYLE_LOOKALIKE[y])]
    rng.shuffle(free)
    out.update(zip(UNGROUPED, free))
    return out


VISUAL = _assign()
"""name -> its visual (an index of ``world.CONCEPTS``: (colour, shape, style))."""
NAMES = tuple(VISUAL)
GROUP_OF = {n: g for g, members in GROUPS.items() for n in members}
PROMPTS = tuple(phrase(n) for n in NAMES)
"""Every name's canonical prompt, in NAMES order."""


def seed_of(prompt: str, sample: int) -> int:
    """The noise seed of sample ``sample`` of a prompt: the same for every method and for the unedited model
    (common random numbers)."""
    return (zlib.crc32(prompt.encode()) % 1_000_000) * 16 + sample


def artist_visual(name: str, artist: str) -> int:
    """The visual "<name> by <artist>" draws: the name's shape and colour in the artist's style."""
    c, s, _ = world.CONCEPTS[VISUAL[name]]
    return world.concept_index(c, s, ARTISTS[artist])


def training_pairs() -> list[tuple[str, int]]:
    """(prompt, visual) of everything the UNet is trained on: every phrasing of every name, and every name by
    every artist."""
    pairs = [(phrase(n, k), VISUAL[n]) for n in NAMES for k in range(len(PHRASINGS))]
    pairs += [(by_artist(n, a), artist_visual(n, a)) for n in NAMES for a in ARTISTS]
    return pairs


def _check() -> None:
    words = {}
    for n in NAMES:
        for w in n.lower().replace("-", " ").split():
            words.setdefault(w, set()).add(GROUP_OF.get(n, n))
    shared = {w: sorted(owners) for w, owners in words.items() if len(owners) > 1}
    if shared:
        raise AssertionError(f"words shared across groups or ungrouped names: {shared}")
    if len(set(VISUAL.values())) != len(VISUAL) or len(NAMES) != len(UNGROUPED) + sum(map(len, GROUPS.values())):
        raise AssertionError("two names share a visual, or a name is listed twice")
    if len(NAMES) < 240 or len(GROUPS) < 8 or min(map(len, GROUPS.values())) < 4:
        raise AssertionError("the world is smaller than issue 14 asks")


_check()
