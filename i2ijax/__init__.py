"""i2ijax: image-to-image translation models in JAX/Flax."""

import os

# TensorFlow (used for TensorBoard events and TFDS) logs its start-up banners
# (oneDNN, CPU features) at INFO from C++; keep warnings and errors only.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
