"""Rules checked over the whole project rather than one package: the import graph, every registry entry,
docs/language.md against the grammar, the shipped specs and examples, a clean clone and a wheel, fuzzing,
limits on hostile specs, regular files only, and every layer against its torch reference."""
