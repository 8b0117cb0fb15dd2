"""Sluice: placeholder until the package lands."""
