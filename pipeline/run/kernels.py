"""How site notebooks get their kernels: warm forks over private IPC sockets.

Two costs dominate a site's run when every kernel starts cold: importing the scientific stack
(pandas, statsmodels, scipy, matplotlib — seconds) and racing for TCP ports ("Address already in
use"). So each worker process keeps one *warm kernel process* that has imported the stack once
and never runs user code; every site's kernel is a fresh ``fork()`` of it. Each kernel is still a
new process with its own globals, matplotlib state, warnings filters and working directory —
nothing one site does can reach the next — while its imports are already done. Kernels talk over
IPC sockets in a private folder, which cannot collide and need no loopback network.

The kernel manager reaches this through jupyter_client's kernel-provisioner extension point
(:mod:`pipeline.run.provisioner`). Set ``KAIZEN_WARM_KERNELS=0`` to start every kernel cold (the
plain ``ipykernel_launcher``).
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

LAUNCHER = str(Path(__file__).with_name("kernel_launcher.py"))
#: What the warm process imports once, so that forked kernels need not.
WARM_IMPORTS = (
    "numpy",
    "pandas",
    "scipy.stats",
    "statsmodels.api",
    "matplotlib",
    "pipeline.report.analysis",
    "pipeline.report.sections",
    "ipykernel.kernelapp",
    # what a kernel's start imports (its debugger brings debugpy; its history, sqlite3): 0.15
    # of its 0.27 s in each forked kernel, when the warm process had not
    "ipykernel.ipkernel",
    "ipykernel.debugger",
    "IPython.core.completerlib",
    "IPython.core.oinspect",
    "IPython.extensions.storemagic",
    "sqlite3",
    "tornado.queues",
)


#: A site kernel's linear algebra runs on one thread: sites already run one per core, and
#: OpenBLAS's own helper thread, spinning after every call, took a core's time from the other
#: site (13-16 % of a 24-site run's CPU on 2 cores). Read once, when the library loads.
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def one_thread(env: MutableMapping[str, str]) -> None:
    """Give a kernel's environment :data:`ONE_THREAD`, unless it sets those variables itself."""
    for name, value in ONE_THREAD.items():
        env.setdefault(name, value)


def warm_kernels_enabled() -> bool:
    return os.environ.get("KAIZEN_WARM_KERNELS", "1") not in ("0", "false", "no")


class WarmKernelServer:
    """The warm kernel process that this process's kernels fork from: started on first use (or
    shared: the run's own, see :meth:`attach`), stopped at exit."""

    _instance: WarmKernelServer | None = None

    def __init__(
        self, *, rehearse: bool | None = False, shared: tuple[str, int] | None = None
    ) -> None:
        if shared is not None:  # another process's warm process: used, never started or stopped
            self._dir = ""
            self.socket_path, self.pid = shared
            self.process: subprocess.Popen[bytes] | None = None
            return
        self._dir = tempfile.mkdtemp(prefix="kzw-", dir="/tmp")
        self.socket_path = str(Path(self._dir) / "s")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.run.kernels", self.socket_path]
            + (["--rehearse"] if rehearse else ["--ask"] if rehearse is None else []),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # its own session, as jupyter_client starts a kernel: a Ctrl-C on the run's terminal
            # is for the run to handle (it stops this process), not for the kernels forked from
            # here, which would take it as an interrupt of the cell they run
            start_new_session=True,
        )
        self.pid = self.process.pid
        atexit.register(self.stop)

    @classmethod
    def start(cls, *, rehearse: bool | None = False) -> WarmKernelServer:
        """Start (without waiting) this process's warm kernel process, if not running.

        ``rehearse``: the warm process runs the site notebook once on a demo site before it
        serves (:mod:`pipeline.run.rehearsal`), which costs about one site and saves every
        kernel the first-use work that imports leave undone; worth it for a run of many sites.
        ``None``: it imports the stack, then waits to be told (:meth:`decide`) whether to
        rehearse, for a run that knows how many sites it runs only once it has validated.
        """
        inst = cls._instance
        if inst is None or not inst.alive():
            inst = cls._instance = cls(rehearse=rehearse)
        return inst

    @classmethod
    def decide(cls, *, rehearse: bool) -> None:
        """Tell this process's warm kernel process, if it waits to be told, whether to rehearse
        (started with ``rehearse=None``); it serves no kernel until told."""
        inst = cls._instance
        if inst is None or inst.process is None:
            return
        answer = Path(inst.socket_path + ".rehearse")
        if not answer.exists():
            part = answer.with_suffix(".part")
            part.write_text("1" if rehearse else "0", encoding="ascii")
            part.replace(answer)  # whole, or not there

    @classmethod
    def attach(cls, socket_path: str, pid: int) -> None:
        """Fork this process's kernels from the warm process at ``socket_path`` (process
        ``pid``, started by another process: a pool's workers share the run's one); should it
        die, this process starts its own."""
        cls._instance = cls(shared=(socket_path, pid))

    @classmethod
    def for_this_process(cls) -> WarmKernelServer:
        inst = cls.start()
        try:
            inst.wait_ready()
        except RuntimeError:
            if inst.process is not None:
                raise
            inst = cls._instance = cls()  # the shared warm process is gone: start our own
            inst.wait_ready()
        return inst

    @classmethod
    def stop_for_this_process(cls) -> None:
        if cls._instance is not None:
            cls._instance.stop()

    def alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        try:
            os.kill(self.pid, 0)
        except OSError:
            return False
        return True

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        ready = Path(self.socket_path + ".ready")
        while not ready.exists():
            if not self.alive():
                raise RuntimeError("Kernel died before replying: the warm kernel process exited")
            if time.monotonic() > deadline:
                raise RuntimeError("Timeout waiting for the warm kernel process")
            time.sleep(0.02)

    def stop(self) -> None:
        if WarmKernelServer._instance is self:
            WarmKernelServer._instance = None
        if self.process is None:  # shared: its owner stops it
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self._dir, ignore_errors=True)


def die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (no orphans after a SIGKILL)."""
    if sys.platform != "linux":
        return
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def serve(socket_path: str, *, rehearse: bool | None = False) -> None:
    """Import the stack once (and with ``rehearse``, run the site notebook once on a demo
    site; with None, as :meth:`WarmKernelServer.decide` says), then fork one fresh kernel per
    request until the parent goes."""
    import importlib

    die_with_parent()

    os.environ.setdefault("MPLBACKEND", "Agg")
    one_thread(os.environ)  # before numpy loads OpenBLAS: its forks inherit the setting
    for name in WARM_IMPORTS:
        importlib.import_module(name)
    if rehearse is None:
        rehearse = _told_to_rehearse(socket_path)
    if rehearse:
        _rehearse()
    # The imported stack (some 200,000 objects) lives as long as every kernel forked from here:
    # frozen, the garbage collector of a kernel skips it (its one full collection per site
    # traversed all of it) and leaves its pages shared instead of writing to each object's GC
    # header, which copied the page. The standard recipe before fork() without exec() (gc docs).
    gc.collect()
    gc.freeze()
    parent = os.getppid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(64)
    rfd, wfd = os.pipe()
    os.set_blocking(wfd, False)
    signal.set_wakeup_fd(wfd)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGTERM, lambda *_: _shutdown(children))
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "accept")
    sel.register(rfd, selectors.EVENT_READ, "signal")
    children: dict[int, socket.socket] = {}
    Path(socket_path + ".ready").touch()
    while True:
        if os.getppid() != parent:  # our worker is gone: so are we
            _shutdown(children)
        for key, _ in sel.select(timeout=1.0):
            if key.data == "accept":
                conn, _ = listener.accept()
                pid = _fork_kernel(conn, listener, sel, rfd, wfd)
                if pid:
                    children[pid] = conn
                    sel.register(conn, selectors.EVENT_READ, pid)
            elif key.data == "signal":
                os.read(rfd, 512)
            else:  # a launcher closed its connection: it is gone, so must its kernel be
                pid = key.data
                if pid in children:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    sel.unregister(children[pid])
        _reap(children, sel)


def _told_to_rehearse(socket_path: str) -> bool:
    """Wait for the parent's answer (:meth:`WarmKernelServer.decide`), which it gives once it
    has staged its sites; a run that ends or fails before then stops this process (and a
    parent that dies takes it along: :func:`die_with_parent`)."""
    answer = Path(socket_path + ".rehearse")
    parent = os.getppid()
    while not answer.exists():
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(0.02)
    return answer.read_text(encoding="ascii") == "1"


def _rehearse() -> None:
    """The dress rehearsal (:mod:`pipeline.run.rehearsal`), then a stock of blank figures
    (:func:`pipeline.report.plots.style.stock_figures`): optimisations only, so a failure
    leaves the kernels to start as they would without them. Their warnings are not a site's."""
    import warnings

    from pipeline.run.rehearsal import rehearse

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            rehearse()
        except Exception:  # noqa: BLE001, S110 - nothing of a site depends on it
            pass
        # then blank figures for every kernel to draw on (after the rehearsal, which would
        # use them up); without them a kernel makes its own
        try:
            from pipeline.report.plots.style import stock_figures

            stock_figures()
        except Exception:  # noqa: BLE001, S110 - nothing of a site depends on it
            pass


def _fork_kernel(conn: socket.socket, listener: socket.socket, sel: Any, rfd: int, wfd: int) -> int:
    request = json.loads(conn.makefile("r").readline() or "{}")
    server_pid = os.getpid()
    pid = os.fork()
    if pid:
        conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        return pid
    # --- the new kernel: drop the server's state, become a normal ipykernel ---
    try:
        sel.close()
        listener.close()
        conn.close()
        signal.set_wakeup_fd(-1)
        os.close(rfd)
        os.close(wfd)
        for sig in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        die_with_parent()  # the kernel goes when its warm process goes (itself killed with the worker)
        if os.getppid() != server_pid:  # the warm process died before the line above took effect
            os._exit(1)
        os.chdir(request.get("cwd") or "/")
        os.environ.clear()
        os.environ.update(request.get("env") or {})
        _reseed()
        from ipykernel.kernelapp import IPKernelApp

        IPKernelApp.launch_instance(argv=request.get("argv") or [])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        code = 1
    os._exit(code)


def _reseed() -> None:
    """A fork inherits the server's random state; a fresh kernel would have its own."""
    import random

    import numpy as np

    random.seed()
    np.random.seed(int.from_bytes(os.urandom(4), "little"))


def _reap(children: dict[int, socket.socket], sel: Any) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = children.pop(pid, None)
        if conn is None:
            continue
        code = os.waitstatus_to_exitcode(status)
        try:
            sel.unregister(conn)
        except (KeyError, ValueError):
            pass
        try:
            conn.sendall(json.dumps({"exit": code}).encode() + b"\n")
        except OSError:
            pass
        conn.close()


def _shutdown(children: dict[int, socket.socket]) -> None:
    for pid in list(children):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    os._exit(0)


def _rehearse_flag(args: list[str]) -> bool | None:
    """``--rehearse``: rehearse; ``--ask``: wait to be told (None); neither: do not."""
    return True if "--rehearse" in args else None if "--ask" in args else False


if __name__ == "__main__":
    serve(sys.argv[1], rehearse=_rehearse_flag(sys.argv[2:]))
