"""Panic sells: a held asset routed hop by hop to a base currency."""
