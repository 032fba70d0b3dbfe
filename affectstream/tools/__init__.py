"""The ``affectstream`` command line."""
