"""What a domain is: any object with `name`, `len()` and `load(i) -> uint8 [H, W, C]`.

`ArrayDomain` holds images already in memory (the embedded photo sets);
the file and TFDS domains are in `sources`.
"""

from typing import Protocol

import numpy as np


class Domain(Protocol):
  name: str

  def __len__(self) -> int: ...

  def load(self, i: int) -> np.ndarray: ...


class ArrayDomain:
  """Images already in memory (uint8 [H, W, C] each)."""

  def __init__(self, name: str, arrays):
    self.name = name
    self.arrays = list(arrays)
    if not self.arrays:
      raise ValueError(f"domain {name} has no images")

  def __len__(self):
    return len(self.arrays)

  def load(self, i):
    return self.arrays[i]
