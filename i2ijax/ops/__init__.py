"""Array operations shared by the models (no parameters, no flax)."""

from i2ijax.ops.conv import conv2d, conv_transpose, stock_convolutions

__all__ = ["conv2d", "conv_transpose", "stock_convolutions"]
