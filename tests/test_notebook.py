"""notebooks/compose_losses.ipynb runs from top to bottom and shows what its text promises.

The notebook is executed in a fresh kernel of this interpreter (`sys.executable`): a kernel spec
is written to a temporary Jupyter data directory at test time, so no kernel needs installing.
"""

import base64
import io
import math
import os
import re
import time

import ipykernel.kernelspec
import nbformat
from nbclient import NotebookClient
import numpy as np
from PIL import Image
import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.slow

NOTEBOOK = os.path.join(ROOT, "notebooks", "compose_losses.ipynb")
KERNEL_NAME = "i2ijax-notebook-test"
CELL_TIMEOUT_S = 600


def tagged(nb, tag):
  cells = [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]
  assert len(cells) == 1, f"expected one cell tagged {tag!r}, found {len(cells)}"
  return cells[0]


def pngs(cell):
  return [Image.open(io.BytesIO(base64.b64decode(o["data"]["image/png"])))
          for o in cell.outputs if "image/png" in o.get("data", {})]


def text_of(cell):
  return "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
  """The notebook after execution, and the seconds it took."""
  jupyter_dir = str(tmp_path_factory.mktemp("jupyter"))
  ipykernel.kernelspec.write_kernel_spec(os.path.join(jupyter_dir, "kernels", KERNEL_NAME))
  nb = nbformat.read(NOTEBOOK, as_version=4)
  with pytest.MonkeyPatch.context() as mp:
    # The kernel process inherits this environment: our kernel spec comes first on the
    # Jupyter path, and JAX runs on the CPU unless the caller chose otherwise.
    mp.setenv("JUPYTER_PATH", os.pathsep.join(filter(None, [jupyter_dir,
                                                            os.environ.get("JUPYTER_PATH")])))
    mp.setenv("JAX_PLATFORMS", os.environ.get("JAX_PLATFORMS", "cpu"))
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name=KERNEL_NAME,
                            resources={"metadata": {"path": os.path.dirname(NOTEBOOK)}})
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError at the first cell that fails
    elapsed = time.perf_counter() - start
  print(f"\nnotebook executed in {elapsed:.1f} s")
  return nb, elapsed


def test_committed_notebook_is_clean_and_explained():
  nb = nbformat.read(NOTEBOOK, as_version=4)
  nbformat.validate(nb)
  code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
  assert code, "the notebook has no code cell"
  for i in code:
    cell = nb.cells[i]
    assert not cell.outputs and cell.execution_count is None, f"cell {i} has saved outputs"
    assert i > 0 and nb.cells[i - 1].cell_type == "markdown", (
        f"code cell {i} has no markdown cell before it explaining what it composes")


def test_runs_without_errors(executed):
  nb, _ = executed
  for i, cell in enumerate(nb.cells):
    if cell.cell_type == "code":
      errors = [o for o in cell.outputs if o.get("output_type") == "error"]
      assert not errors, f"cell {i}: {errors}"
      assert cell.execution_count is not None, f"cell {i} did not run"


def test_shows_the_loss_curve(executed):
  nb, _ = executed
  images = pngs(tagged(nb, "loss-curve"))
  assert len(images) == 1, "the loss-curve cell should display one figure"
  width, height = images[0].size
  assert width > 2 * height > 200, images[0].size  # a row of panels


def test_shows_the_sample_grid(executed):
  nb, _ = executed
  images = pngs(tagged(nb, "sample-grid"))
  assert len(images) == 1, "the sample-grid cell should display one grid"
  grid = np.asarray(images[0].convert("RGB"))
  height, width = grid.shape[:2]
  assert width >= 4 * 32 and height > width, grid.shape  # 4 columns, 8 rows
  assert len(np.unique(grid.reshape(-1, 3), axis=0)) > 100, "the grid looks blank"


def test_final_losses_are_finite(executed):
  nb, _ = executed
  text = text_of(tagged(nb, "final-losses"))
  values = dict(re.findall(r"^(\S+/\S+)\s+(\S+)$", text, re.MULTILINE))
  for name in ("D/total", "G/total", "D_A/r1", "D_B/r1", "G/cycle", "F/cycle", "G/diversity",
               "F/diversity", "G/adv", "F/adv"):
    assert name in values, f"{name} missing from the final losses:\n{text}"
  bad = {k: v for k, v in values.items() if not math.isfinite(float(v))}
  assert not bad, f"non-finite final losses: {bad}"


def test_stays_small(executed):
  _, elapsed = executed
  # The kernel uses about 50 s of CPU time, most of it compiling the train step (100-130 s of
  # wall time on a 2-core machine busy with other work). The bound is loose: it only catches a
  # notebook grown far past its small CPU setting.
  assert elapsed < 400, f"the notebook took {elapsed:.0f} s"
