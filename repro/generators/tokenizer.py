"""A word-level tokenizer for the embedded mini model and the tiny test models.

Stable Diffusion uses CLIP's BPE tokenizer; the mini model's text encoder is trained from scratch on a few
hundred caption words, for which a whole-word vocabulary is simpler and exact. It is saved and loaded as a
``transformers`` fast tokenizer, so the generator loader treats it like SD's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
from tokenizers.models import WordLevel
from transformers import PreTrainedTokenizerFast

BOS, EOS, PAD, UNK = "<|startoftext|>", "<|endoftext|>", "<|pad|>", "<|unk|>"
SPECIAL_TOKENS = (BOS, EOS, PAD, UNK)
_WORD = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")


def words_of(texts: Iterable[str]) -> list[str]:
    """The sorted set of words (lower case, punctuation split off) in ``texts``."""
    return sorted({w for text in texts for w in _WORD.findall(text.lower())})


def build_word_tokenizer(texts: Iterable[str], model_max_length: int = 77) -> PreTrainedTokenizerFast:
    """A fast tokenizer whose vocabulary is every word of ``texts``; pads to ``model_max_length`` like CLIP."""
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for word in words_of(texts):
        vocab.setdefault(word, len(vocab))
    core = Tokenizer(WordLevel(vocab=vocab, unk_token=UNK))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.Punctuation()])
    core.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}", special_tokens=[(BOS, vocab[BOS]), (EOS, vocab[EOS])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        model_max_length=model_max_length,
    )
