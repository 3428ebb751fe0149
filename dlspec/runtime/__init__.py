"""The torch modules and hooks a compiled model is made of, where torch has no single class.

Imports only torch (inputs.py and tables.py only the standard library), never the
rest of dlspec: `dlspec export --format python` copies these files into the
exported model.py and predict.py, which must run without dlspec.
"""
