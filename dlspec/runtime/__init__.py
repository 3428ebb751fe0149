"""The torch modules and hooks a compiled model is made of, where torch has no single class.

Imports only torch, never the rest of dlspec: `dlspec export --format python`
copies these files into the exported model, which must run without dlspec.
"""
