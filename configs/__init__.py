"""Experiment configs: one `get_config()` per setting; variants import a base and override."""
