"""The test suite, one folder per package of dlspec (language/, planning/, layers/, data/, train/, runs/,
tuning/, editor/, views/, cli/, plugins/) and contracts/ for the rules checked over the whole project
(imports, registries, docs, shipped specs and examples, fuzzing, limits).

Every folder is a package, so each test module has a unique dotted name (two folders may hold files of the
same name) and pytest puts the repository root on sys.path: tests import shared code as
`from tests.conftest import ROOT` and `from tests.helpers.predict_runs import make_run`, whether the whole
suite runs or one file alone."""
