"""Declarative study presets (TOML), shipped with the package; see issue 5."""
