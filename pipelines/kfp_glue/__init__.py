"""KFP glue: thin components over the logic, the pipeline definitions and the local runner."""
