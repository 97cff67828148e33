"""Make `ansible_collections.fulexo.dr` importable from this working tree."""

import os
import sys

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
COLLECTIONS = os.path.join(REPO_ROOT, ".cache", "collections")
FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")

link = os.path.join(COLLECTIONS, "ansible_collections", "fulexo", "dr")
if not os.path.exists(link):
    os.makedirs(os.path.dirname(link), exist_ok=True)
    os.symlink(os.path.relpath(REPO_ROOT, os.path.dirname(link)), link)
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
