"""KFP glue: thin components over the logic, the pipeline definitions and the local runner."""

# What kfp.local (and Vertex AI, in the pipeline root) writes in a task's folder when it succeeds.
EXECUTOR_OUTPUT = "executor_output.json"
