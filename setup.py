"""The project's license, in the form the building setuptools takes (the rest is in pyproject.toml).

setuptools >= 77 takes the PEP 639 expression (``License-Expression``) and deprecates the older forms;
setuptools < 77 (Debian 12's python3-setuptools 66.1) rejects the expression string in pyproject.toml
and writes the ``License`` field instead.  Both builds work offline with ``--no-build-isolation``
(tests/test_packaging.py builds a wheel with each).
"""

import setuptools

LICENSE = "GPL-2.0-or-later"

if int(setuptools.__version__.split(".")[0]) >= 77:
    setuptools.setup(license_expression=LICENSE, license_files=["LICENSE"])
else:
    setuptools.setup(license=LICENSE, license_files=["LICENSE"])
