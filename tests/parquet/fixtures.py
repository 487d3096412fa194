"""Parquet files as pyarrow writes them, for the data crate's tests
(crates/aiaas-data/tests/data/*.parquet). Run again after changing them:

    python3 -m pip install pyarrow==22.0.0
    python3 tests/parquet/fixtures.py
"""

import pathlib

import pyarrow as pa
import pyarrow.csv as pc
import pyarrow.parquet as pq

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "crates/aiaas-data/tests/data"


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    # The bundled iris sample with pyarrow's defaults (snappy, dictionary pages, statistics).
    pq.write_table(pc.read_csv(ROOT / "datasets/iris.csv"), OUT / "iris.parquet")
    # Text, booleans and integers, gzip-compressed, in two row groups.
    mixed = pa.table(
        {
            "size": [1.5, 2.5, 3.5, 4.5, 5.5, 6.5],
            "colour": ["red", "blue", "red", "blue", "red", "green"],
            "round": [True, False, True, False, True, False],
            "count": pa.array([1, 2, 3, 4, 5, 6], type=pa.int32()),
            "target": ["a", "b", "a", "b", "a", "b"],
        }
    )
    pq.write_table(mixed, OUT / "mixed.parquet", compression="gzip", row_group_size=4)
    nested = pa.table({"x": [1.0, 2.0], "tags": [[1, 2], [3]], "target": [0, 1]})
    pq.write_table(nested, OUT / "nested.parquet")
    zstd = pa.table({"x": [1.0, 2.0, 3.0], "target": [0, 1, 0]})
    pq.write_table(zstd, OUT / "zstd.parquet", compression="zstd")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
