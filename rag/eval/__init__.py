"""Evaluation: `runner` reads sets and runs answer functions over them, `metrics` scores what
came back (pure), `report` writes the files, `importers` turn public data sets into corpora and
sets, `bench` measures speed and memory, `scale` the local store at N synthetic chunks."""
