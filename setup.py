"""Build of pcapflow's compiled kernels (Cython) with the machine's C compiler.

``PCAPFLOW_DEBUG_KERNELS=1`` builds them with Cython's bounds and initialisation checks on (slow;
for finding a bad index); ``PCAPFLOW_SANITIZE=address`` with AddressSanitizer (see the README's
"Checking the compiled kernels").
"""

import os
import shutil

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

KERNELS = ("constants", "walk", "pcapng", "decode", "partition", "signatures", "firstbytes", "flowtable", "flowexport", "dnsanswers", "grouping")
DEBUG = os.environ.get("PCAPFLOW_DEBUG_KERNELS") == "1"
SANITIZE = os.environ.get("PCAPFLOW_SANITIZE")

NO_COMPILER = """
pcapflow's kernels are compiled C (Cython), and no C compiler was found ({compiler!r}).
Install one and run the installation again:
  Debian/Ubuntu: apt-get install gcc python3-dev
  Fedora/RHEL:   dnf install gcc python3-devel
  macOS:         xcode-select --install
"""


class BuildKernels(build_ext):
    """build_ext that says plainly when there is no compiler, instead of a compiler traceback."""

    def build_extensions(self) -> None:
        compiler = self.compiler.compiler_so[0] if getattr(self.compiler, "compiler_so", None) else None
        if compiler is not None and shutil.which(compiler) is None:
            raise SystemExit(NO_COMPILER.format(compiler=compiler))
        super().build_extensions()


def extensions() -> list[Extension]:
    compile_args, link_args = ["-O3"], []
    if SANITIZE:
        compile_args = [f"-fsanitize={SANITIZE}", "-fno-omit-frame-pointer", "-O1", "-g"]
        link_args = [f"-fsanitize={SANITIZE}"]
    modules = [
        Extension(
            f"pcapflow._kernels.{name}",
            [f"pcapflow/_kernels/{name}.pyx"],
            include_dirs=["pcapflow/_kernels"],
            extra_compile_args=compile_args,
            extra_link_args=link_args,
        )
        for name in KERNELS
    ]
    directives = {
        "language_level": 3,
        "boundscheck": DEBUG,
        "wraparound": False,
        "initializedcheck": DEBUG,
        "nonecheck": DEBUG,
        "cdivision": True,
        "freethreading_compatible": True,
        "embedsignature": True,
    }
    return cythonize(modules, compiler_directives=directives, quiet=True)


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildKernels})
