"""Class Alignment Tokens as data: one new vocabulary entry S_c per class and its embedding vector.

``ClassTokens`` adds the entries to a generator's tokenizer and text encoder (``install``), saves and loads them
(safetensors: class name -> vector), and ``TokenSplice`` lets the vectors be trained: it keeps them as
parameters of its own and splices them into the output of the text encoder's input-embedding layer, so no
weight of the text encoder, the UNet or the VAE ever receives a gradient or changes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..errors import ReproError
from ..files import check_finite, read_damageable
from .prompts import class_phrase, token_string


@dataclass
class ClassTokens:
    """``vectors[i]`` is the embedding of ``tokens[i]``, the class token of ``classes[i]``."""

    classes: list[str]
    vectors: torch.Tensor
    tokens: list[str] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tokens = self.tokens or [token_string(c) for c in self.classes]
        if len(set(self.tokens)) != len(self.tokens):
            raise ReproError(f"class names {self.classes} give clashing class tokens {self.tokens}; rename the classes")
        if self.vectors.ndim != 2 or len(self.vectors) != len(self.classes):
            raise ReproError(
                f"{len(self.classes)} classes need a [{len(self.classes)}, width] vector table, "
                f"got shape {tuple(self.vectors.shape)}"
            )
        self.vectors = self.vectors.detach().float().cpu()

    @property
    def width(self) -> int:
        return int(self.vectors.shape[1])

    def token_for(self, class_name: str) -> str:
        return self.tokens[self.classes.index(class_name)]

    @classmethod
    def initial(cls, bundle, classes: Sequence[str]) -> ClassTokens:
        """Tokens that start at the mean embedding of their class name's words (the prompt then reads
        "a {class} {class}"); a name the tokenizer does not know starts at the word "a"."""
        table = bundle.text_encoder.get_input_embeddings().weight.detach().float().cpu()
        tokenizer = bundle.tokenizer
        vectors = []
        for name in classes:
            ids = [
                i
                for i in tokenizer(class_phrase(name), add_special_tokens=False).input_ids
                if i != tokenizer.unk_token_id
            ]
            ids = ids or tokenizer("a", add_special_tokens=False).input_ids
            vectors.append(table[ids].mean(dim=0))
        return cls(list(classes), torch.stack(vectors))

    def install(self, bundle) -> list[int]:
        """Add the tokens to the bundle's tokenizer and text encoder and write their vectors; returns their ids.

        Idempotent: tokens already present are reused. Existing rows of the embedding table are left untouched.
        """
        if self.width != bundle.text_width:
            raise ReproError(
                f"class tokens are {self.width} wide but generator {bundle.name}'s text encoder is "
                f"{bundle.text_width} wide; learn the tokens for this generator (`repro ddis token`)"
            )
        tokenizer, encoder = bundle.tokenizer, bundle.text_encoder
        vocab = tokenizer.get_vocab()
        new = [t for t in self.tokens if t not in vocab]
        if new:
            tokenizer.add_tokens(new)
        rows = encoder.get_input_embeddings().weight.shape[0]
        if len(tokenizer) > rows:
            encoder.resize_token_embeddings(len(tokenizer), mean_resizing=False)
            encoder.requires_grad_(False)
        ids = tokenizer.convert_tokens_to_ids(self.tokens)
        weight = encoder.get_input_embeddings().weight
        with torch.no_grad():
            weight[ids] = self.vectors.to(device=weight.device, dtype=weight.dtype)
        return list(ids)

    def save(self, path: str | Path) -> Path:
        """safetensors: one tensor per class name; the token strings and ``metadata`` in the header."""
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {name: self.vectors[i].contiguous() for i, name in enumerate(self.classes)}
        header = {
            "tokens": json.dumps(dict(zip(self.classes, self.tokens))),
            "order": json.dumps(self.classes),
            **{k: json.dumps(v) for k, v in self.metadata.items()},
        }
        tmp = path.with_suffix(path.suffix + ".tmp")
        save_file(tensors, str(tmp), metadata=header)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> ClassTokens:
        from safetensors import safe_open

        def read(p: Path) -> ClassTokens:
            with safe_open(str(p), framework="pt") as f:
                header = dict(f.metadata() or {})
                order = json.loads(header.pop("order", "null")) or list(f.keys())
                tokens = json.loads(header.pop("tokens", "{}"))
                vectors = torch.stack([f.get_tensor(name) for name in order])
            metadata = {k: json.loads(v) for k, v in header.items()}
            return cls(order, vectors, [tokens.get(c, token_string(c)) for c in order], metadata)

        fix = "learn the tokens again with `repro ddis token`"
        loaded = read_damageable(path, read, "class-token file", fix)
        check_finite(loaded.vectors, f"class-token file {path}", fix)
        return loaded


class TokenSplice(nn.Module):
    """Trainable class-token vectors spliced into the text encoder's input embeddings by a forward hook.

    Each class has its own parameter, so an optimiser can update some classes and leave others (stopped early)
    exactly as they are.
    """

    def __init__(self, bundle, token_ids: Sequence[int], init: torch.Tensor):
        super().__init__()
        embedding = bundle.text_encoder.get_input_embeddings()
        device = embedding.weight.device
        self.vectors = nn.ParameterList(nn.Parameter(v.detach().float().to(device).clone()) for v in init)
        slots = torch.full((embedding.weight.shape[0],), -1, dtype=torch.long, device=device)
        slots[torch.as_tensor(list(token_ids), device=device)] = torch.arange(len(token_ids), device=device)
        self.register_buffer("slots", slots, persistent=False)
        self._handle = embedding.register_forward_hook(self._splice)

    def _splice(self, module, inputs, output: torch.Tensor) -> torch.Tensor:
        slot = self.slots[inputs[0]]
        mask = slot >= 0
        if not bool(mask.any()):
            return output
        table = torch.stack(list(self.vectors)).to(output.dtype)
        return torch.where(mask.unsqueeze(-1), table[slot.clamp(min=0)], output)

    def table(self) -> torch.Tensor:
        return torch.stack([v.detach() for v in self.vectors]).cpu()

    def remove(self) -> None:
        self._handle.remove()
