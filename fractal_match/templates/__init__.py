"""What is matched: kernel sources (files, crops, banks, learned kernels, visualized CNN units in
:mod:`.cnn`) and the generator families that turn a kernel into a template (:mod:`.fractal`:
fractals and their controls).

Imports the engine and the basics only; jax only inside :mod:`.cnn`, and only where a picture
must be made.
"""

from .fractal import FAMILIES, Family, Param, Template, fractalize
from .kernels import KERNEL_SOURCES, Kernel, KernelSource, load_kernel, resize_kernel


def plugins_used(families=(), kernels=()) -> list[dict]:
    """The plug-ins behind the generator `families` and the kernels named in `kernels` (by their
    ``PREFIX:`` source), one {"kind", "name", "package", "version"} each, sorted; built-ins are
    left out, so a list that is empty says that everything used is built in. For run manifests and
    figure metadata: which installed package, at which version, made the templates."""
    used = [("family", name, FAMILIES.package(name)) for name in dict.fromkeys(families) if name in FAMILIES]
    prefixes = dict.fromkeys(str(k).partition(":")[0] for k in kernels if ":" in str(k))
    used += [("kernel source", prefix, KERNEL_SOURCES.package(prefix)) for prefix in prefixes if prefix in KERNEL_SOURCES]
    return sorted(({"kind": kind, "name": name, **package} for kind, name, package in used if package is not None),
                  key=lambda p: (p["kind"], p["name"]))


__all__ = ["FAMILIES", "Family", "Param", "Template", "fractalize", "KERNEL_SOURCES", "Kernel", "KernelSource",
           "load_kernel", "resize_kernel", "plugins_used"]
