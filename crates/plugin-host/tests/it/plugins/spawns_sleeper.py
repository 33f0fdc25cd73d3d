"""Test plugin: starts a grandchild process, then hangs, so a timeout must kill both."""

import os
import subprocess
import time


def registerCallbacks(reg):
    reg.registerCallback(
        os.environ["SGEVENTS_EXAMPLE_SCRIPT"],
        os.environ["SGEVENTS_EXAMPLE_KEY"],
        start_and_hang,
        stopOnError=False,
    )


def start_and_hang(sg, logger, event, args):
    sleeper = subprocess.Popen(["sleep", "600"])
    logger.info("sleeper pid %d, plugin pid %d", sleeper.pid, os.getpid())
    while True:
        time.sleep(3600)
