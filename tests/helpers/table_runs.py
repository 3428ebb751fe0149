"""A tiny csv classification run that the run-directory tests (damaged, unsafe, full disk) each copy
and spoil in their own way: one spec text and one table, written in one place."""
from __future__ import annotations

import dlspec

SPEC = """
model Net { input vector(4); BODY }
data rows {
    source csv("rows.csv", target="label")
    split train=0.75 val=0.25 seed=0
    batch 8
}
train { model Net; data rows; optimizer adam(lr=0.01); epochs 1; seed 1LOG }
"""
BODY = "linear(8) -> relu -> linear(3)"


def quiet(*a):
    pass


def write_table_spec(folder, body: str = BODY, log: str = "", new_rows: int = 1):
    """rows.csv (48 rows, 3 classes), new.csv (`new_rows` rows to predict) and net.dlspec in `folder`."""
    rows = "".join(f"{i % 5 / 5},{i % 7 / 7},{i % 3 / 3},{i % 11 / 11},{i % 3}\n" for i in range(48))
    (folder / "rows.csv").write_text("a,b,c,d,label\n" + rows)
    (folder / "new.csv").write_text("a,b,c,d\n" + "0.2,0.3,0.4,0.5\n" * new_rows)
    path = folder / "net.dlspec"
    path.write_text(SPEC.replace("BODY", body).replace("LOG", f"; log {log}" if log else ""))
    return path


def fit_table_run(folder, **spec_args):
    """Write the spec into `folder` and train it into folder/run; returns `folder`."""
    dlspec.fit(write_table_spec(folder, **spec_args), out=str(folder / "run"), log=quiet, progress=False)
    return folder
