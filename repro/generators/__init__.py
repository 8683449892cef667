"""Generators: load a diffusers text-to-image bundle (SD v1.4, SD 2.1, the embedded mini model, tiny tests)."""

from .bundle import GeneratorBundle, load_generator, resolve_dtype, save_bundle

__all__ = ["GeneratorBundle", "load_generator", "resolve_dtype", "save_bundle"]
