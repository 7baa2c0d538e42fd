"""The kernel provisioner of site notebooks: IPC sockets in a private folder, warm-forked kernels.

A kernel provisioner is jupyter_client's documented extension point for how a kernel is started
and stopped (``jupyter_client.provisioning``). Ours is the local provisioner with three changes:
the kernel talks over IPC sockets in a private temporary folder (no TCP ports to race for), the
native Python kernel is forked from this worker's warm kernel process (see
:mod:`pipeline.run.kernels`), and the kernel's chatter on stdout/stderr is dropped (what matters is
in the executed notebook). It is registered under the entry point group
``jupyter_client.kernel_provisioners`` (see ``pyproject.toml``) and chosen for kernels whose spec
names no provisioner through the factory's ``default_provisioner_name`` setting.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from jupyter_client.provisioning import KernelProvisionerFactory, LocalProvisioner

from pipeline.run.kernels import LAUNCHER, WarmKernelServer, one_thread, warm_kernels_enabled

NAME = "kaizen-warm-fork"


class WarmForkProvisioner(LocalProvisioner):  # type: ignore[misc]
    """``LocalProvisioner`` over IPC sockets, forking the native Python kernel from a warm process."""

    _socket_dir: str | None = None

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        km = self.parent
        if km is not None and self._socket_dir is None:
            # Unix socket paths are limited to ~107 bytes: keep the folder short.
            self._socket_dir = tempfile.mkdtemp(prefix="kz-", dir="/tmp")
            km.transport = "ipc"
            km.ip = str(Path(self._socket_dir) / "k")
            km.cache_ports = False  # ports are a TCP notion; IPC sockets are paths
        kwargs = await super().pre_launch(**kwargs)
        one_thread(kwargs["env"])  # what a cold kernel loads with; a fork has its warm process's
        cmd = list(kwargs["cmd"])
        if warm_kernels_enabled() and cmd[1:3] == ["-m", "ipykernel_launcher"]:
            server = WarmKernelServer.for_this_process()
            kwargs["cmd"] = [sys.executable, "-I", "-S", LAUNCHER, server.socket_path, *cmd[3:]]
        # Kernel chatter ("KeyboardInterrupt caught in kernel" at shutdown) is noise for a
        # scheduled run; what matters is captured in the executed notebook.
        kwargs.setdefault("stdout", subprocess.DEVNULL)
        kwargs.setdefault("stderr", subprocess.DEVNULL)
        return kwargs

    async def cleanup(self, restart: bool = False) -> None:
        await super().cleanup(restart=restart)
        if not restart and self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None


def use_warm_fork_provisioner() -> None:
    """Make this process start kernels (those whose spec names no provisioner) with ours."""
    factory = KernelProvisionerFactory.instance()
    if NAME not in factory.get_provisioner_entries():
        # A development checkout whose installed metadata predates the entry point (an
        # editable install made before it was added): register the same entry point by hand.
        from importlib.metadata import EntryPoint

        factory.provisioners[NAME] = EntryPoint(
            name=NAME,
            value=f"{__name__}:{WarmForkProvisioner.__name__}",
            group=KernelProvisionerFactory.GROUP_NAME,
        )
    factory.default_provisioner_name = NAME
