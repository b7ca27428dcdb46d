"""Developer and operator tools built on the platform (tools -> infra -> functions -> pipelines -> environments)."""
