"""Builds the extension qlinear._qlinear with CMake (the target qlinear_python only, no tools or
tests) and packages it with python/qlinear/. Nothing is downloaded: CMake finds the Debian packages
scripts/install-deps.sh installs, and the interpreter running this script is the one built for.

Environment: QLINEAR_CMAKE_ARGS adds CMake arguments; CMAKE_BUILD_PARALLEL_LEVEL the build jobs.
"""

import os
import pathlib
import shlex
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = pathlib.Path(__file__).resolve().parent


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build_dir = pathlib.Path(self.build_temp).resolve() / "cmake"
        configure = [
            "cmake", "-S", str(ROOT), "-B", str(build_dir),
            "-DCMAKE_BUILD_TYPE=Release",
            "-DQLINEAR_BUILD_TOOLS=OFF", "-DQLINEAR_BUILD_TESTS=OFF", "-DQLINEAR_BUILD_PYTHON=ON",
            f"-DPython_EXECUTABLE={sys.executable}",
        ]
        if shutil.which("ccache") and "CMAKE_CXX_COMPILER_LAUNCHER" not in os.environ:
            configure.append("-DCMAKE_CXX_COMPILER_LAUNCHER=ccache")
        configure += shlex.split(os.environ.get("QLINEAR_CMAKE_ARGS", ""))
        subprocess.run(configure, check=True)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 1))
        subprocess.run(["cmake", "--build", str(build_dir), "--target", "qlinear_python", "-j", jobs], check=True)
        built = next((build_dir / "python" / "qlinear").glob("_qlinear*.so"))
        target = pathlib.Path(self.get_ext_fullpath(ext.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, target)


setup(
    packages=["qlinear"],
    package_dir={"": "python"},
    package_data={"qlinear": ["py.typed", "*.pyi"]},
    ext_modules=[Extension("qlinear._qlinear", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    # Not setuptools' default build/: that is where the README's CMake build lives.
    options={"build": {"build_base": "build-pip"}},
    zip_safe=False,
)
