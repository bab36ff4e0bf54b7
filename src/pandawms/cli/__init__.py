"""The ``panda`` command."""
