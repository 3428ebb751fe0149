"""Views of a spec for people. Each takes a loaded `Spec` (or a built model, or the registries) in and
gives a file, a table or rows out; `dlspec.api`, the CLI and the editor call them.

- summary.py: the `compile --show` table and JSON (layers, shapes, parameters, memory, spec lines)
- macs.py: multiply-accumulate counts per layer, for summary.py
- catalog.py: what a spec can use (`dlspec layers|sources|...`), from the registries
- graph.py, graph_draw.py: a model picture (DOT or matplotlib)
- preview.py: a grid of augmented training samples
- explain.py: every setting with its origin
"""
