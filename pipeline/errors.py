"""The one error a user sees: a problem and its fix, printed by the CLI as one line (exit 2)."""

from __future__ import annotations


class DreamreelError(Exception):
    """Bad input or environment. `problem` says what is wrong, `fix` what to do about it."""

    def __init__(self, problem: str, fix: str = "") -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}; {fix}" if fix else problem)


class DiskFull(DreamreelError):
    """The device filled up while writing `path`: the finished frames stay in ``OUT.parts/``."""

    def __init__(self, path: object) -> None:
        super().__init__(f"no space left on the device writing {path}", "free space, then rerun with --resume")
        self.path = path
