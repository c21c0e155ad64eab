"""The state every emulator keeps, behind one object the control API can reset.

`EmulatorState` holds what the kit serves to every vendor: a re-entrant `lock` for changes that span stores,
the movable `clock`, scheduled `faults`, `counters` (calls per endpoint, faults fired, credits spent), the
`outbox` of calls made to the product and the `sender` that makes them in the background, the run-time
`config` (a `Settings` subclass), and the `seed` and `world` name the data was built from. A subclass builds
its vendors in `build()` (called at start and at every reset) and registers its fault actions there.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from sandbox.kit.clock import Clock
from sandbox.kit.delivery import BackgroundSender, Outbox
from sandbox.kit.faults import Faults
from sandbox.kit.settings import Settings


class EmulatorState:
    settings_class: type[Settings] = Settings

    def __init__(self, *, seed: int = 42, world: str = "demo", config: dict[str, Any] | None = None, **build: Any):
        self.lock = threading.RLock()
        self.clock = Clock()
        self.faults = Faults()
        self.counters: Counter[str] = Counter()
        self.outbox = Outbox()
        self.sender = BackgroundSender(self.outbox)
        self.config = self.settings_class()
        self.config.update(config or {})
        self.seed = seed
        self.world = world
        self.build(**build)

    def build(self, **options: Any) -> None:
        """Make the vendors' state and the world's data (on a fresh clock, counters and faults)."""
        raise NotImplementedError

    def reset_options(self, body: dict[str, Any]) -> dict[str, Any]:
        """What `build` takes from a `POST /_sandbox/reset` body besides seed, world and config."""
        return {}

    def reset(
        self, *, seed: int | None = None, world: str | None = None, config: dict[str, Any] | None = None, **build: Any
    ) -> None:
        with self.lock:
            self.seed = self.seed if seed is None else seed
            self.world = world or self.world
            self.clock.reset()
            self.faults.clear()
            self.counters.clear()
            self.outbox.clear()
            self.config = self.settings_class()
            self.config.update(config or {})
            self.build(**build)
