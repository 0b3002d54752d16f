"""Package discovery for the folders that install under another name (everything else is in
pyproject.toml): export/ is unet_edge.export and runtime/ is unet_edge.runtime. setuptools'
``packages.find`` cannot map a folder to a dotted name, and a hand-kept list silently leaves a
new subpackage out of the wheel, so every package below each folder is found here."""

from setuptools import find_packages, setup

PACKAGE_DIR = {"unet_edge": "unet_edge", "unet_edge.export": "export", "unet_edge.runtime": "runtime"}


def packages() -> list[str]:
    """Each mapped package and every package (folder with an ``__init__.py``) below it."""
    return sorted(name + (f".{sub}" if sub else "")
                  for name, folder in PACKAGE_DIR.items() for sub in ["", *find_packages(folder)])


setup(package_dir=PACKAGE_DIR, packages=packages())
