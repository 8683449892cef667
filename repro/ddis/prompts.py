"""DDIS prompts: "A {S_c} {class}" with the class token, "A {class}" without it (the vanilla and +DAG rows)."""

from __future__ import annotations

import re

from ..data.registry import class_phrase

#: The paper's template; the mini model, pretrained on captions "a photo of a {class}", may be given
#: "a photo of {a} {token} {cls}" instead.
PAPER_TEMPLATE = "{a} {token} {cls}"


def article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def class_prompt(class_name: str, token: str | None = None, template: str = PAPER_TEMPLATE) -> str:
    """The prompt for one class; ``token`` None drops the class token (and the space it took)."""
    phrase = class_phrase(class_name)
    text = template.format(a=article(phrase), token=token or "", cls=phrase)
    return " ".join(text.split())


def token_string(class_name: str) -> str:
    """The new vocabulary entry S_c of a class: lower case (both tokenizers lower-case the prompt) and unique."""
    slug = re.sub(r"[^a-z0-9]+", "-", class_phrase(class_name).lower()).strip("-")
    return f"<ddis-{slug}>"
