"""`dlspec serve`: a finished run behind HTTP. A run directory in, a web service out.

served.py loads the run once and turns request bodies into the same tensors `dlspec predict` makes
(runtime/preprocess.py's readers, unchanged); batcher.py groups concurrent requests into one model
call; metadata.py says what the run is; app.py is the ASGI application (FastAPI): /predict, /health,
/metadata, the page at /; server.py starts uvicorn. served.py, batcher.py and metadata.py import no
web library, and nothing outside this package imports it, so the rest of dlspec never needs the
`serve` extra.
"""
