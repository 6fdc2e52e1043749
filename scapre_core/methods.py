"""The registry of methods: ``ScaPreConfig.method`` names one of these objects.

Adding a solver (e.g. Double Projections) is a module with a ``Method`` (``method.py``) and one line here.
"""

from __future__ import annotations

from .additive import SCAPRE, SCAPRE_BASE, UCE
from .method import Method
from .oce import OCE

METHODS: dict[str, Method] = {method.name: method for method in (SCAPRE, SCAPRE_BASE, UCE, OCE)}
