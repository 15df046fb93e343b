"""Write a notebook from a py:percent script (authoring aid; needs jupytext).

    python tools/py2nb.py draft.py notebooks/03_dense_autoencoder.ipynb

Cells are separated by ``# %%`` (code) and ``# %% [markdown]``; cell metadata goes
on the separator line, e.g. ``# %% tags=["remove-input"] mystnb={"figure": {...}}``.
The notebook gets the standard ``python3`` kernelspec and no outputs.
"""

import sys

import jupytext
import nbformat


def main(src: str, dst: str) -> None:
    nb = jupytext.read(src, fmt="py:percent")
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.validate(nb)
    nbformat.write(nb, dst)


if __name__ == "__main__":
    main(*sys.argv[1:3])
