"""Import paths from before the package was split into subpackages, kept working.

``import voucherbot.runner`` still gives the use cases (now :mod:`voucherbot.app`), with a
DeprecationWarning naming the new path; nothing in voucherbot itself uses these names.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from types import ModuleType

#: old module -> where it lives now (the paths the README documented before the move)
MOVED = {
    "voucherbot.runner": "voucherbot.app",
    "voucherbot.planner": "voucherbot.planning.planner",
    "voucherbot.forecast": "voucherbot.planning.forecast",
}
#: names an old module had that now live elsewhere: old module -> name -> "module:attribute"
ELSEWHERE = {
    "voucherbot.runner": {"KINDS": "voucherbot.app.runs:KINDS"},
    "voucherbot.forecast": {
        "format_days": "voucherbot.text:format_days",
        "format_rate": "voucherbot.text:format_rate",
        "format_duration": "voucherbot.text:format_span",
    },
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        return importlib.util.spec_from_loader(fullname, self) if fullname in MOVED else None

    def exec_module(self, module: ModuleType) -> None:
        new = MOVED[module.__name__]
        warnings.warn(f"{module.__name__} is now {new}", DeprecationWarning, stacklevel=2)
        real = importlib.import_module(new)
        names = {*vars(real), *getattr(real, "__all__", ())}  # a lazy package's names too
        module.__dict__.update(
            (name, getattr(real, name)) for name in names if not name.startswith("__")
        )
        for name, where in ELSEWHERE.get(module.__name__, {}).items():
            home, attribute = where.split(":")
            setattr(module, name, getattr(importlib.import_module(home), attribute))
        module.__doc__ = real.__doc__


def install() -> None:
    if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(_MovedModules())
