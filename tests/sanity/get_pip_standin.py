"""Offline stand-in for the get-pip script that ansible-test downloads.

ansible-test bootstraps each sanity venv with get-pip from a host that is not
reachable here. This stand-in installs pip with ensurepip and then runs pip
with the arguments ansible-test passes, minus the get-pip-only flags.
"""

import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"], stdout=subprocess.DEVNULL)
args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args))
