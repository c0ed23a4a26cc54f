"""Verification: Ruby's own test suites and the endurance programs run against an artifact,
judged against the known failures of verification/ (data), with reports."""
