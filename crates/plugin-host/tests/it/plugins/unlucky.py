"""Test plugin: aborts on the first event it sees and works afterwards (a marker file in
SGEVENTS_TEST_DIR remembers), with stopOnError=False so the next callback still runs."""

import os


def registerCallbacks(reg):
    script = os.environ["SGEVENTS_EXAMPLE_SCRIPT"]
    key = os.environ["SGEVENTS_EXAMPLE_KEY"]
    reg.registerCallback(script, key, maybe_abort, stopOnError=False)
    reg.registerCallback(script, key, after_abort, stopOnError=False)


def maybe_abort(sg, logger, event, args):
    marker = os.path.join(os.environ["SGEVENTS_TEST_DIR"], "aborted-once")
    if not os.path.exists(marker):
        open(marker, "w").close()
        os.abort()
    logger.info("maybe_abort survived event %d in pid %d", event["id"], os.getpid())


def after_abort(sg, logger, event, args):
    logger.info("after_abort ran on event %d in pid %d", event["id"], os.getpid())
