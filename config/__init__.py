"""Settings, defaults and message catalogues."""
