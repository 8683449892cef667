"""Values computed once per object: kept by the object's id while it lives, for work on large image arrays that a
notebook meets again and again (the same training set in every grid cell of every seed)."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def once_per_object(cache: dict[int, Any], obj: object, compute: Callable[[Any], T]) -> T:
    """``compute(obj)``, computed once while ``obj`` lives: kept in ``cache`` by its id, and dropped when ``obj`` is
    freed (a later object may reuse the id). The object must not change in place meanwhile."""
    key = id(obj)
    if key not in cache:
        cache[key] = compute(obj)
        weakref.finalize(obj, cache.pop, key, None)
    return cache[key]
