"""The workflow's Python side: configuration and registry validation, and the papermill notebook runner."""
