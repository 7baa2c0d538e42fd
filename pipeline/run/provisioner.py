"""The kernel provisioner of site notebooks: IPC sockets in a private folder, warm-forked kernels.

A kernel provisioner is jupyter_client's documented extension point for how a kernel is started
and stopped (``jupyter_client.provisioning``). Ours is the local provisioner with three changes:
the kernel talks over IPC sockets in a private temporary folder (no TCP ports to race for), the
native Python kernel is forked from this worker's warm kernel process (see
:mod:`pipeline.run.kernels`), and the kernel's chatter on stdout/stderr is dropped (what matters is
in the executed notebook). It is registered under the entry point group
``jupyter_client.kernel_provisioners`` (see ``pyproject.toml``) and chosen for kernels whose spec
names no provisioner through the factory's ``default_provisioner_name`` setting.

:class:`SiteKernelManager` (with its :class:`SiteKernelClient`) is jupyter_client's asynchronous
kernel manager without the waits that a throwaway site kernel need not sit through: it is ready
as soon as it has answered, and gone as soon as it has exited, and its sockets connect as soon as
the kernel's are there.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from queue import Empty
from typing import Any

import zmq
import zmq.asyncio
from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import KernelProvisionerFactory, LocalProvisioner
from jupyter_core.utils import ensure_async
from traitlets import Type

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


#: How often a stopping kernel is checked for having exited (jupyter_client checks every 0.1 s).
EXIT_POLL = 0.005

#: How soon (ms) a site kernel's client and manager try again to connect to a kernel socket
#: that is not there yet. They connect as the kernel is forked, and its sockets come some 40 ms
#: later; at zmq's default of 100 ms the kernel then sat idle for the rest, once as it started and
#: again as it was shut down (about 0.1 s a site).
RECONNECT_MS = 5


def _quick_to_reconnect(context: zmq.asyncio.Context) -> zmq.asyncio.Context:
    """``context`` with :data:`RECONNECT_MS` as every new socket's reconnect interval."""
    context.setsockopt(zmq.RECONNECT_IVL, RECONNECT_MS)
    return context


class SiteKernelClient(AsyncKernelClient):  # type: ignore[misc]
    """jupyter_client's asynchronous kernel client, ready as soon as the kernel answers.

    jupyter_client's ``wait_for_ready`` asks for the kernel's info until the kernel answers and
    IOPub delivers, then reads IOPub until 0.2 s pass without a message: every site's kernel
    sat idle for those 0.2 s (a twelfth of a site). The messages that read drops answer the
    readiness probe, which nbclient would skip anyway (it reads only the messages whose parent
    is its own request), so this client drops what has arrived and goes on. Its sockets retry
    a connection every :data:`RECONNECT_MS` ms.
    """

    def _context_default(self) -> zmq.asyncio.Context:  # traitlets' default for ``context``
        return _quick_to_reconnect(super()._context_default())

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        while True:
            self.kernel_info()
            try:
                msg = await ensure_async(self.shell_channel.get_msg(timeout=1))
            except Empty:
                pass
            else:
                if msg["msg_type"] == "kernel_info_reply":
                    try:  # IOPub delivers too (its welcome, or the probe's status)
                        await ensure_async(self.iopub_channel.get_msg(timeout=0.2))
                    except Empty:
                        pass  # not connected yet: ask again
                    else:
                        self._handle_kernel_info_reply(msg)
                        break
            if not await self.is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")
        while True:  # what IOPub has delivered already, without waiting for more
            try:
                await ensure_async(self.iopub_channel.get_msg(timeout=0))
            except Empty:
                break


class SiteKernelManager(AsyncKernelManager):  # type: ignore[misc]
    """jupyter_client's asynchronous kernel manager with :class:`SiteKernelClient`, checking a
    stopping kernel for its exit every :data:`EXIT_POLL` seconds instead of every 0.1 s (on
    average 0.05 s per site, waiting for a process that had gone); its control socket, which
    asks the kernel to shut down, retries a connection every :data:`RECONNECT_MS` ms."""

    client_factory = Type(SiteKernelClient, klass=AsyncKernelClient)

    def _context_default(self) -> zmq.asyncio.Context:  # traitlets' default for ``context``
        return _quick_to_reconnect(super()._context_default())

    async def _async_wait(self, pollinterval: float = 0.1) -> None:
        await super()._async_wait(pollinterval=min(pollinterval, EXIT_POLL))


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
