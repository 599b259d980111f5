"""rpa: the red-packet transaction anomaly analyzer."""

__version__ = "0.1.0"
