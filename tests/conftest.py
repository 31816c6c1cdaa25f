"""Shared test helpers: loading configs/ files and tiny CycleGAN settings."""

import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_config(name: str, arg: str | None = None):
  """`configs/<name>.py` -> get_config(arg)."""
  path = os.path.join(ROOT, "configs", f"{name}.py")
  spec = importlib.util.spec_from_file_location(f"configs_{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def tiny_cyclegan_config(size: int = 32):
  """The quickstart preset shrunk to seconds-per-run networks."""
  c = load_config("cyclegan", "quickstart")
  c.model.netG = "resnet_6blocks"
  c.model.ngf = 8
  c.model.ndf = 8
  c.data.load_size = size + 4
  c.data.crop_size = size
  c.data.embedded_images = 8
  c.data.prefetch = 1
  c.batch_size = 2
  return c


@pytest.fixture
def tiny_config():
  return tiny_cyclegan_config()
