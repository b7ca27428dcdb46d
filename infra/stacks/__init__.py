"""Stacks: one per environment."""
