"""count-params: the parameters of a model, layer by layer, from the very module `train` builds.

    engine.py    an abstract model -> per-layer rows and totals (Keras and torch conventions)
    targets.py   what to count: an experiment file's model, or a model type with options
"""

from .engine import CONVENTIONS, Layer, Summary, abstract_model, format_shape, layer_notes, summarize
from .targets import Target, count, known_models, resolve

__all__ = ["CONVENTIONS", "Layer", "Summary", "Target", "abstract_model", "count", "format_shape", "known_models",
           "layer_notes", "resolve", "summarize"]
