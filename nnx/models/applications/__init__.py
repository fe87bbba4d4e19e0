"""The ImageNet architectures of the notes' figure 3, as trainable Flax NNX modules.

Each is built layer for layer as the Keras application with `include_top=True` (same layers,
biases, batch-norm options), so parameter counts match Keras's exactly; the output layer returns
logits (the softmax is in the loss). Default input shapes are in `nnx.models.specs`.
"""
