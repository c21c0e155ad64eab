"""The movable clock now lives in the emulator kit; this name stays for callers that import it from here."""

from sandbox.kit.clock import Clock

__all__ = ["Clock"]
