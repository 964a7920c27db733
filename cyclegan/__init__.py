"""CycleGAN trainer with defenses against hidden steganographic codes."""

__version__ = "0.1.0"
