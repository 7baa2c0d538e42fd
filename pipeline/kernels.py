"""How site notebooks get their kernels: local IPC sockets, one private folder per kernel.

TCP kernels pick free ports by probing, which races when many start at once ("Address already in
use"); IPC sockets in a folder of their own cannot collide and need no loopback network.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager


class IPCKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` whose kernel talks over IPC sockets in a private temp folder."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Unix socket paths are limited to ~107 bytes: keep the folder short.
        self._socket_dir = tempfile.mkdtemp(prefix="kz-", dir="/tmp")
        self.transport = "ipc"
        self.ip = str(Path(self._socket_dir) / "k")

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
