"""i2ijax: image-to-image translation models in JAX/Flax."""

import os

# TensorFlow is used only to read TFDS data and write TensorBoard events. Its
# start-up banners (CPU features at INFO, and the oneDNN notice, which its log
# level does not silence) are noise here: keep its warnings and errors only, and
# leave its oneDNN kernels off (no model runs in TensorFlow).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

__version__ = "0.1.0"
