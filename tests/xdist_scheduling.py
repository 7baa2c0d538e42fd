"""How the suite's tests are handed out to xdist workers (``-n 2 --dist loadgroup``): each
``xdist_group`` on one worker, and the slow end-to-end tests first.

Groups: a group's session- and module-scoped fixtures (the browser group's demo run, the
``mini_run`` group's shared run) are built once, not once per worker.

pytest-xdist (3.8 at least) tells the controller a test's group by appending ``@group`` to its
node id, writing ``item._nodeid``; pytest 9.2 keeps the node id in ``item._id`` instead, so the
suffix is lost and every grouped test is scheduled on its own, silently (pytest-dev/pytest-xdist
issue 1386). Measured on the suite: the browser group's tests ran on both workers, and each
worker ran the demo and opened Chromium for them (about 90 CPU s twice). This plugin adds the
suffix where pytest now reads it, and stops the run if a group still cannot be applied: a
grouping lost without a word is what it is here for. It does nothing once xdist sets the suffix
itself, nor outside an xdist worker.

Order: xdist hands out the groups first (those of most tests first), then single tests in collection
order, two ahead per worker. In file order the costliest single tests (test_run.py's, up to 80
CPU s each) came last, and one of them could keep a worker busy while the other had nothing
left; so the tests marked ``slow`` come first and the quick ones fill the end.
"""

from __future__ import annotations

import pytest


def _group_of(item: pytest.Item) -> str | None:
    """The group name as xdist derives it: the names of every ``xdist_group`` mark, joined."""
    names = {
        str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
        for mark in item.iter_markers("xdist_group")
    }
    return "_".join(sorted(names)) if names else None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # on a worker, xdist reads ``--dist loadgroup`` into this option (the worker's own dist is "no")
    if not hasattr(config, "workerinput") or not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        group = _group_of(item)
        if group is None or item.nodeid.endswith(f"@{group}"):
            continue
        grouped = f"{item.nodeid}@{group}"
        structured = getattr(item, "_id", None)
        if structured is not None:
            item._id = type(structured).parse(grouped)  # type: ignore[attr-defined]
        else:
            item._nodeid = grouped
        if item.nodeid != grouped:
            raise pytest.UsageError(
                f"cannot put {item.nodeid} in xdist group {group!r}: this pytest keeps node ids "
                "where tests/xdist_scheduling.py does not write them; update the plugin"
            )
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: slow first
