"""i2ijax: image-to-image translation models in JAX/Flax."""

__version__ = "0.1.0"
