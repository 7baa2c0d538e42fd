"""Start a site's kernel as a fork of this worker's warm kernel process (standard library only).

Run as ``python -I -S kernel_launcher.py SOCKET -f CONNECTION_FILE``: it asks the warm process
listening on SOCKET to fork a fresh kernel, then stands in for that kernel towards the kernel
manager — it forwards signals to it and exits with its exit code. If this launcher is killed, the
warm process sees the connection close and kills the kernel.
"""

import json
import os
import signal
import socket
import sys


def main() -> int:
    path, argv = sys.argv[1], sys.argv[2:]
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(path)
    request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}
    conn.sendall(json.dumps(request).encode() + b"\n")
    stream = conn.makefile("r")
    reply = json.loads(stream.readline() or "{}")
    pid = reply.get("pid")
    if not pid:
        sys.stderr.write(f"warm kernel could not start: {reply.get('error', 'no reply')}\n")
        return 1

    def forward(signum, frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1):
        signal.signal(sig, forward)
    while True:
        try:
            line = stream.readline()
            break
        except InterruptedError:
            continue
    if not line:
        return 1
    return int(json.loads(line).get("exit", 1))


if __name__ == "__main__":
    sys.exit(main())
