"""kali: a zero-dependency web framework for apps served to one person on their own machine."""

__version__ = "0.1.0"
