"""Views of a spec for people: a model picture (graph.py, graph_draw.py), a grid of augmented
training samples (preview.py) and every setting with its origin (explain.py). Each takes a loaded
`Spec` in and gives a file or rows out; `dlspec.api` and the CLI call them.
"""
