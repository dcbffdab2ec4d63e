"""A stand-in for torchvision, so the test oracles timm and torch-encoding import without it.

torchvision's PyPI wheels are built against CUDA torch and do not load beside the CPU torch wheel
this project tests with ("operator torchvision::nms does not exist"). timm and torch-encoding
import torchvision at import time only for things the oracle tests never touch (timm: datasets,
transforms, ``FrozenBatchNorm2d``, FX feature extraction; torch-encoding: datasets and
transforms); their ResNeSt, DeepLabV3, FCN and ``MultiEvalModule`` code is plain torch. So when
the real torchvision cannot be imported, ``install()`` puts in place a package whose every
attribute is an inert placeholder class: it can be named, subclassed and instantiated, but
calling one raises, so an oracle that did use torchvision would fail loudly instead of
silently doing something else. With a working torchvision installed, nothing is replaced.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types

# Names that star-imports must find (torch-encoding: ``from torchvision.datasets import *``).
STAR_EXPORTS = {"torchvision.datasets": ["CIFAR10"]}


class _Placeholder(type):
    """A class whose attributes are placeholder classes too (enums like InterpolationMode)."""

    def __getattr__(cls, attribute: str) -> type:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        value = _Placeholder(attribute, (), _PLACEHOLDER_METHODS)
        setattr(cls, attribute, value)
        return value


def _accept(self: object, *args: object, **kwargs: object) -> None:
    """Placeholders can be built with any arguments (oracles build transforms at import)."""


def _refuse_call(self: object, *args: object, **kwargs: object) -> None:
    raise RuntimeError(f"torchvision placeholder {type(self).__name__} was called by an oracle")


_PLACEHOLDER_METHODS = {"__init__": _accept, "__call__": _refuse_call}


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name: str, path: object, target: object = None):
        if name == "torchvision" or name.startswith("torchvision."):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = types.ModuleType(spec.name)
        module.__path__ = []

        def attribute(name: str, _module: str = spec.name) -> object:
            if name == "__all__":
                return STAR_EXPORTS.get(_module, [])
            if name.startswith("__"):
                raise AttributeError(name)
            value = _Placeholder(name, (), _PLACEHOLDER_METHODS)
            setattr(module, name, value)
            return value

        module.__getattr__ = attribute
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        return None


def install() -> bool:
    """Use the real torchvision if it imports, else the placeholder; True if it was needed."""
    if any(isinstance(finder, _Finder) for finder in sys.meta_path):
        return True
    try:
        import torchvision  # noqa: F401
    except (ImportError, RuntimeError, OSError):
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
        sys.meta_path.insert(0, _Finder())
        return True
    return False
