"""Warm kernels: each example's kernel is forked from a process that has
already imported the heavy packages, instead of starting Python afresh.

A fresh kernel that imports torch and matplotlib spends about 4 s of CPU
before the example's first line; the build starts dozens. Here one server
process per build imports them once (``preload``) and forks a kernel for
each example. Such a kernel runs as a fresh one would:

- the server starts with the environment the kernels get, and refuses a
  kernel whose environment differs in anything but the variables named as
  per-kernel (which nothing reads at import time); the kernel then starts
  afresh, as it always did;
- the forked kernel takes the stub's standard streams, working folder,
  arguments and environment; ``sys.path`` is what ipykernel_launcher
  leaves; the random modules loaded are reseeded from fresh entropy;
- it leads its own process group, which dies with the stub (the process
  jupyter_client started and kills), as a kernel's group does.

tests/test_forkserver.py compares a warm kernel's state with a fresh
one's; tests/test_downloads.py runs examples as fresh processes and
compares their outputs with the build's, byte for byte.

One file, two roles, standard library only (the stub must start fast):

``python forkserver.py serve FD PARENT [MODULE...]``
    the server: imports the modules, then accepts kernels on the
    listening socket FD (an abstract Unix socket), forks one per request,
    and exits when its parent (the process PARENT) is gone.
``python forkserver.py kernel ADDRESS ARG...``
    the stub, started by jupyter_client as "the kernel": hands its
    streams, folder, arguments and environment to the server, forwards
    signals to the forked kernel's group, and ends when the kernel does
    (or kills it when its own parent dies). With no server, or a refusal,
    it becomes a fresh kernel (exec) with the same arguments.
"""

import json
import os
import secrets
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time

POLL = 0.5  # seconds between checks that the parent still lives


class Server:
    """A running server: ``with Server(env, preload, per_kernel) as s``;
    ``s.stub(command)`` turns a kernel's command line into the stub's.

    ``env`` is the environment the kernels will get, but for the variables
    named in ``per_kernel``; ``preload`` the modules to import once;
    ``python`` the interpreter and its options, as the kernels' command
    lines start (``[sys.executable]``, or with ``-S``, ...). Linux only
    (abstract sockets): elsewhere ``stub`` leaves commands as they are.
    ``notes()`` says what the server reported so far (kernels it refused,
    a failed import).
    """

    def __init__(self, env, preload=(), per_kernel=(), python=None):
        self.env = dict(env, FORKSERVER_PER_KERNEL=",".join(per_kernel))
        self.preload = list(preload)
        self.python = list(python or [sys.executable])
        self.address = None
        self._log = None
        self._notes = ""

    def __enter__(self):
        if not sys.platform.startswith("linux"):
            return self
        self.address = f"bn-forkserver-{secrets.token_hex(8)}"
        # Bound here, listened on there: a kernel that starts before the
        # server is ready waits in the queue instead of being refused.
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind("\0" + self.address)
        listener.listen(64)
        self._log = tempfile.TemporaryFile(mode="w+")
        with listener:
            self._process = subprocess.Popen(
                [*self.python, __file__, "serve", str(listener.fileno()),
                 str(os.getpid()), *self.preload],
                env=self.env, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=self._log,
                pass_fds=[listener.fileno()],
                start_new_session=True)  # Ctrl-C reaches the build only
        return self

    def stub(self, command):
        """The stub's command line for a kernel started by ``command``
        (the server's ``python``, then ``-m ipykernel_launcher ARG...``);
        any other command as it is (that kernel starts afresh)."""
        n = len(self.python)
        if (self.address is None or command[:n] != self.python
                or command[n:n + 2] != ["-m", "ipykernel_launcher"]):
            return command
        return [*self.python, __file__, "kernel", self.address,
                *command[n + 2:]]

    def notes(self):
        if self._log is None or self._log.closed:
            return self._notes
        self._log.seek(0)
        return self._log.read().strip()

    def __exit__(self, *exc):
        if self.address is None:
            return
        # Kernels that are still shutting down end on their own; a kernel
        # whose server died first would log that its parent exited.
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._notes = self.notes()
        self._log.close()


def _send(sock, message, fds=()):
    data = json.dumps(message).encode()
    data = len(data).to_bytes(8, "big") + data
    sent = socket.send_fds(sock, [data], list(fds)) if fds else 0
    if sent < len(data):
        sock.sendall(data[sent:])


def _receive(sock, parent=None, max_fds=0):
    """One message (and up to ``max_fds`` file descriptors); None on end
    of stream. While waiting, gives up (None) if ``parent`` has died."""
    data, fds = b"", []
    while len(data) < 8 or len(data) < 8 + int.from_bytes(data[:8], "big"):
        if parent is not None:
            ready, _, _ = select.select([sock], [], [], POLL)
            if os.getppid() != parent:
                return None, fds
            if not ready:
                continue
        if max_fds and not fds:
            chunk, fds, _, _ = socket.recv_fds(sock, 1 << 16, max_fds)
        else:
            chunk = sock.recv(1 << 16)
        if not chunk:
            return None, fds
        data += chunk
    return json.loads(data[8:]), fds


# --- the server -------------------------------------------------------------

def serve(fd, parent, modules):
    del sys.path[0]  # this file's folder: as ipykernel_launcher does
    listener = socket.socket(fileno=fd)
    import importlib

    for module in ["ipykernel.kernelapp", *modules]:  # what kernels need
        importlib.import_module(module)
    per_kernel = set(os.environ.get("FORKSERVER_PER_KERNEL", "").split(","))
    per_kernel.add("FORKSERVER_PER_KERNEL")
    own = {k: v for k, v in os.environ.items() if k not in per_kernel}
    stopping = []  # SIGTERM: accept no more, end when the kernels have
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    while os.getppid() == parent:
        kernels = _reap()
        if stopping:
            if not kernels:
                return
            time.sleep(0.05)
            continue
        ready, _, _ = select.select([listener], [], [], POLL)
        if not ready:
            continue
        conn, _ = listener.accept()
        conn.settimeout(10)  # a stub that stalls cannot stall the server
        fds = []
        try:
            request, fds = _receive(conn, max_fds=3)
            if request is None or len(fds) != 3:
                continue
            theirs = {k: v for k, v in request["env"].items()
                      if k not in per_kernel}
            if theirs != own:
                differ = sorted(k for k in set(own) | set(theirs)
                                if own.get(k) != theirs.get(k))
                print("refused a kernel (started it afresh): its "
                      f"environment differs in {', '.join(differ)}",
                      file=sys.stderr, flush=True)
                _send(conn, {"ok": False})
                continue
            sys.stdout.flush()
            sys.stderr.flush()
            if os.fork() == 0:
                listener.close()
                os._exit(_become_kernel(conn, fds, request))
        except OSError:
            pass
        finally:
            conn.close()
            for fd in fds:
                os.close(fd)


def _reap():
    """Reap the kernels that ended; whether any still runs."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        return False
    return True


def _become_kernel(conn, fds, request):
    """In the forked child: become the kernel the stub would have been;
    returns the exit status."""
    try:
        import importlib.util

        conn.settimeout(None)
        os.setsid()  # its own group, which dies with the stub
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
            signal.signal(number, signal.SIG_DFL)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = [importlib.util.find_spec("ipykernel_launcher").origin,
                    *request["argv"]]
        if "tempfile" in sys.modules:  # TMPDIR is per kernel
            sys.modules["tempfile"].tempdir = None
        # Fresh entropy, as a new process gets: kernels forked from one
        # server would otherwise share the unseeded random streams.
        for module, reseed in (("random", "seed"), ("numpy.random", "seed"),
                               ("torch", "seed")):
            if module in sys.modules:
                getattr(sys.modules[module], reseed)()
        _send(conn, {"ok": True, "pid": os.getpid()})
    except BaseException:  # noqa: BLE001 - the stub starts a fresh kernel
        return 70

    def watch():  # the stub died (killed, or its parent did): end the group
        try:
            while conn.recv(1 << 10):
                pass
        finally:
            os.killpg(0, signal.SIGKILL)

    import atexit
    import threading

    threading.Thread(target=watch, daemon=True).start()
    code = 0
    try:
        from ipykernel import kernelapp

        kernelapp.launch_new_instance()
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else 1
    except BaseException:  # noqa: BLE001 - reported as Python would
        import traceback

        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()  # what a normal exit runs
    sys.stdout.flush()
    sys.stderr.flush()
    return code


# --- the stub ---------------------------------------------------------------

def kernel(address, argv):
    # Who started us, even if it died before we got here.
    parent = int(os.environ.get("JPY_PARENT_PID") or os.getppid())
    reply = None
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect("\0" + address)
        _send(sock, {"argv": argv,
                     "env": dict(os.environ), "cwd": os.getcwd()},
              fds=(0, 1, 2))
        reply, _ = _receive(sock, parent)
    except OSError:
        pass
    if os.getppid() != parent:
        return 1
    if not reply or not reply.get("ok"):
        flags = ["-S"] if sys.flags.no_site else []
        os.execv(sys.executable, [sys.executable, *flags, "-m",
                                  "ipykernel_launcher", *argv])
    group = reply["pid"]

    def forward(number, frame):
        try:
            os.killpg(group, number)
        except OSError:
            pass

    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP,
                   signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(number, forward)
    while True:
        try:
            ready, _, _ = select.select([sock], [], [], POLL)
            if ready and not sock.recv(1 << 10):
                return 0  # the kernel ended
        except InterruptedError:
            continue
        if os.getppid() != parent:
            forward(signal.SIGKILL, None)
            return 1


if __name__ == "__main__":
    role, address, *rest = sys.argv[1:]
    if role == "serve":
        serve(int(address), int(rest[0]), rest[1:])
    elif role == "kernel":
        sys.exit(kernel(address, rest))
    else:
        sys.exit(f"forkserver.py: unknown role {role!r}")
