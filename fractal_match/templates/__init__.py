"""What is matched: kernel sources (files, crops, banks, learned kernels, visualized CNN units in
:mod:`.cnn`) and the generator families that turn a kernel into a template (:mod:`.fractal`:
fractals and their controls).

Imports the engine and the basics only; jax only inside :mod:`.cnn`, and only where a picture
must be made.
"""

from .fractal import FAMILIES, Family, Param, Template, fractalize
from .kernels import KERNEL_SOURCES, Kernel, KernelSource, load_kernel, resize_kernel

__all__ = ["FAMILIES", "Family", "Param", "Template", "fractalize", "KERNEL_SOURCES", "Kernel", "KernelSource",
           "load_kernel", "resize_kernel"]
