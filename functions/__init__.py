"""Cloud Functions (gen2), one folder each with main.py and requirements.txt.

settings.py  the environment variables each function gets, from environments/<env>.yaml
archive.py   builds each function's source archive (its folder plus the shared modules it imports)
serve.py     `make serve`: one function locally under functions-framework
"""
