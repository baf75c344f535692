"""One module per CLI command: NAME, a docstring (the help text) and run(). Each imports the
engine inside run() so that `ntk --help` never imports JAX."""
