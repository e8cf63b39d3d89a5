"""The read-only sandbox an example runs in: the kernel asks Linux's Landlock
security module to refuse it, and every process it starts, any write outside
the folders it may write in (its output folder, its temporary folder, the
data folder and a few caches). The kernel refuses the write whatever makes
it: Python's ``open``, a C extension (``torch.save`` to a path writes from
C++), a subprocess. The process that tries gets a permission error, as on a
read-only file system.

Landlock needs Linux 5.13 or later, built with it (``landlock_abi()`` says
whether this machine has it); elsewhere the build falls back to noting the
writes Python's ``open`` makes (kernel.watch_files) and says so once.

The one small Landlock package on PyPI is an alpha release, so the three
system calls are made here with ctypes. ``restrict_writes`` runs in the
kernel (shipped as text by ``restrict_writes_code``), so it imports only the
standard library.
"""

from __future__ import annotations

import ctypes
import inspect

# The same numbers on every architecture but alpha (they came after the
# system call tables were unified).
_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1


def landlock_abi() -> int:
    """Landlock's ABI version on this machine; 0 where it has none."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        version = libc.syscall(_CREATE_RULESET, None, 0,
                               _CREATE_RULESET_VERSION)
    except (OSError, AttributeError):
        return 0
    return max(int(version), 0)


def restrict_writes(allowed):
    """Make this thread, and every thread and process it starts from now
    on, unable to create, change, rename or remove anything outside the
    folders ``allowed`` (missing ones are skipped). Reading is untouched."""
    import ctypes
    import os

    libc = ctypes.CDLL(None, use_errno=True)
    abi = libc.syscall(444, None, 0, 1)
    if abi < 1:
        raise OSError(ctypes.get_errno(), "Landlock is not available")
    # WRITE_FILE, REMOVE_DIR, REMOVE_FILE and MAKE_* (char, dir, reg, sock,
    # fifo, block, sym); REFER from ABI 2, TRUNCATE from ABI 3.
    rights = (1 << 1) | sum(1 << bit for bit in range(4, 13))
    if abi >= 2:
        rights |= 1 << 13
    if abi >= 3:
        rights |= 1 << 14

    class RulesetAttr(ctypes.Structure):
        _fields_ = [("handled_access_fs", ctypes.c_uint64)]

    class PathBeneathAttr(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed_access", ctypes.c_uint64),
                    ("parent_fd", ctypes.c_int32)]

    def check(result, what):
        if result < 0:
            number = ctypes.get_errno()
            raise OSError(number, f"{what}: {os.strerror(number)}")
        return result

    attr = RulesetAttr(rights)
    ruleset = check(libc.syscall(444, ctypes.byref(attr),
                                 ctypes.sizeof(attr), 0), "create_ruleset")
    try:
        for folder in allowed:
            if not os.path.isdir(folder):
                continue
            fd = os.open(folder, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = PathBeneathAttr(rights, fd)
                check(libc.syscall(445, ruleset, 1, ctypes.byref(rule), 0),
                      f"add_rule {folder}")
            finally:
                os.close(fd)
        check(libc.prctl(38, 1, 0, 0, 0), "no_new_privs")  # PR_SET_...
        check(libc.syscall(446, ruleset, 0), "restrict_self")
    finally:
        os.close(ruleset)


def restrict_writes_code(allowed) -> str:
    """Code for ``kernel.exec_lines``: the kernel calls ``restrict_writes``
    with ``allowed`` before the example's first cell."""
    return (inspect.getsource(restrict_writes)
            + f"restrict_writes({[str(p) for p in allowed]!r})\n"
            + "del restrict_writes\n")
