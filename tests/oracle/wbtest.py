"""Shared helpers for the black-box tests: run the weightbridge binary, locate fixtures."""
import json
import os
import shutil
import subprocess
import unittest

BIN = os.environ.get("WB_BIN", "weightbridge")
FIXTURES = os.environ.get("WB_FIXTURES", os.path.join(os.path.dirname(__file__), "../../../shared/fixtures/real"))
TMP = os.environ.get("WB_TMP", "/tmp/wb-tests")
IN_CI = os.environ.get("CI") == "true"


def fixture(rel):
    """Path of a real fixture; fails under CI when missing, skips elsewhere."""
    p = os.path.join(FIXTURES, rel)
    if not os.path.exists(p):
        if IN_CI:
            raise AssertionError("missing fixture under CI: " + p)
        raise unittest.SkipTest("fixture not present: " + p)
    return p


def tmpdir(name):
    d = os.path.join(TMP, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def run(*args, check=None):
    """Runs weightbridge; returns CompletedProcess. check=N asserts the exit code."""
    p = subprocess.run([BIN] + [str(a) for a in args], capture_output=True, text=True, timeout=600)
    if check is not None and p.returncode != check:
        raise AssertionError("weightbridge %s exited %d (wanted %d)\nstdout:\n%s\nstderr:\n%s"
                             % (" ".join(map(str, args)), p.returncode, check, p.stdout, p.stderr))
    return p


def inspect_json(*paths):
    p = run("inspect", "--json", *paths, check=0)
    return json.loads(p.stdout)
