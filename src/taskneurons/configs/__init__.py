"""Configs: options with their help (``options``), checks of their values (``checks``), and a YAML file with
``key=value`` overrides read into a config dataclass (``files``)."""
