"""ntk's numerical engine: pure, jitted JAX functions for the spectra of neural networks.

This package file imports nothing heavy: `engine.errors` is cheap for the front ends to catch.
Every module that computes calls `backend.configure()` on import, which enables float64 and the
per-user compilation cache before any array exists.
"""
