"""Maps the prescribed top-level folders under the one import root ``wormfs``.

``gateway/`` installs as ``wormfs.gateway`` (and likewise storage_node, coordinator, fuse), so
that no generic top-level module lands in site-packages. Everything else is in pyproject.toml.
"""

from setuptools import find_packages, setup

COMPONENTS = ("gateway", "storage_node", "coordinator", "fuse")

package_dir = {"wormfs": "wormfs"}
packages = ["wormfs", *(f"wormfs.{p}" for p in find_packages("wormfs"))]
for component in COMPONENTS:
    package_dir[f"wormfs.{component}"] = component
    packages.append(f"wormfs.{component}")
    for sub in find_packages(component):
        packages.append(f"wormfs.{component}.{sub}")

setup(package_dir=package_dir, packages=packages)
