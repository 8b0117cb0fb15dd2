"""Shared helpers: sibling modules of a project are importable from its models."""


def fare_per_mile(fare, miles):
    return (fare / miles.where(miles > 0)).round(3)
