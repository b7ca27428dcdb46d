"""The floor for the predict load benchmark: the smallest functions-framework function."""

import functions_framework


@functions_framework.http
def hello(request):
    return {"hello": "world"}, 200
