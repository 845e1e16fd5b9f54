"""The base layer: modules that depend on nothing else of ours."""
