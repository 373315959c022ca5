"""Runs the FunctionApp locally where Azure Functions Core Tools are not installed."""
