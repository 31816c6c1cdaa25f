"""Generators and discriminators (flax.linen, NHWC, images in [-1, 1])."""
