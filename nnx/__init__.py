"""nnx: a command-line experiment runner for the neural networks of ISLR/ISLP chapter 10."""

__version__ = "0.1.0"
