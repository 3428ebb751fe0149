"""Data sources: the registry (`base`), then every built-in family, imported in one explicit order."""
from .base import SOURCES, SourceData, SourceDef, TensorData, register_source, require_path, source  # noqa: F401

from . import images, masks, tables, parquet, text, series, dotted, bundled  # noqa: E402,F401 - registers, in this order
