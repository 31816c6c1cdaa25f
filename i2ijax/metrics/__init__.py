"""Image-quality and distribution metrics."""
