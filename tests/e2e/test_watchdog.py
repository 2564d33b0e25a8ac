"""No step outlives trixc (§9, runtime/process.hpp): one watchdog process per
trixc kills every step's process group when trixc dies, even by SIGKILL,
including steps started from `parallel {}` worker threads, and it is not
taken down by the signals a terminal or a supervisor sends to trixc's
process group."""

import os
import signal
import unittest
from pathlib import Path

from e2e_support import ROLLED_BACK, TrixTestCase, pid_alive

# Each long step writes its shell's pid and a background child's pid.
LONG = 'run "sleep 30 & echo $! >> {f}; echo $$ >> {f}; wait"'


def children_of(pid):
    """Direct children of `pid` (all its threads)."""
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(x) for x in (task / "children").read_text().split()]
        except FileNotFoundError:
            pass
    return out


class Watchdog(TrixTestCase):
    def start_with_pids(self, runbook, count, **kw):
        self.runbook(runbook)
        p = self.start_rb(**kw)
        self.wait_for(lambda: len(self.lines("pids")) >= count, timeout=10, what=f"{count} step pids", proc=p)
        pids = [int(x) for x in self.lines("pids")]
        for pid in pids:
            self.track_pgid(pid)
        self.assertTrue(all(pid_alive(pid) for pid in pids))
        return p, pids

    def assertAllDie(self, pids):
        self.wait_for(lambda: not any(pid_alive(pid) for pid in pids), timeout=5,
                      what="every process of the killed run's steps to die")

    def test_sigkill_of_trixc_kills_two_parallel_steps_with_their_children(self):
        p, pids = self.start_with_pids(f"""\
environment dev {{ x = 1 }}
pipeline p {{
  stage s {{
    parallel {{
      {LONG.format(f="pids")}
      {LONG.format(f="pids")}
    }}
  }}
}}
""", 4)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
        self.assertAllDie(pids)

    def test_watchdog_started_by_a_finished_worker_thread_still_guards_later_steps(self):
        # The first step of the run is in a `parallel` block, so the watchdog
        # is created from a worker thread, which ends before `long` starts.
        p, pids = self.start_with_pids(f"""\
environment dev {{ x = 1 }}
pipeline p {{
  stage s {{
    parallel {{
      run "true"
      run "sleep 0.2"
    }}
    long: {LONG.format(f="pids")}
  }}
}}
""", 2)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
        self.assertAllDie(pids)

    def test_sigkill_of_trixcs_whole_process_group_kills_the_steps(self):
        # A supervisor (or `kill -9 -PGID`) kills the job's process group:
        # the watchdog lives in a group of its own and survives to clean up.
        p, pids = self.start_with_pids(f"""\
environment dev {{ x = 1 }}
pipeline p {{
  stage s {{ {LONG.format(f="pids")} }}
}}
""", 2, new_session=True)
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=10)
        self.assertAllDie(pids)

    def test_ctrl_c_to_trixcs_process_group_leaves_the_watchdog_alone(self):
        # What a terminal does on Ctrl-C: SIGINT to the foreground group.
        # trixc stops the step and rolls back; the watchdog keeps running.
        p, pids = self.start_with_pids(f"""\
environment dev {{ x = 1 }}
pipeline p {{
  stage s {{
    a: run "echo a >> log"
    undo {{ run "echo undo-a >> log; echo $$ > undo.pid; while [ ! -f go ]; do sleep 0.02; done" }}
    {LONG.format(f="pids")}
  }}
}}
""", 2, new_session=True)
        shell = pids[1]
        watchdogs = [c for c in children_of(p.pid) if c != shell]
        self.assertEqual(len(watchdogs), 1, f"trixc's children: {children_of(p.pid)}, the step's shell: {shell}")
        [watchdog] = watchdogs
        self.assertEqual(os.getpgid(watchdog), watchdog, "the watchdog is not in a process group of its own")
        os.killpg(p.pid, signal.SIGINT)
        self.wait_for_file("undo.pid", proc=p)
        self.assertTrue(pid_alive(watchdog), "the watchdog died of the group's SIGINT")
        self.assertIn(watchdog, children_of(p.pid))
        self.write("go", "")
        res = self.finish(p, timeout=15)
        self.assertExit(res, ROLLED_BACK)
        self.assertEqual(self.lines("log"), ["a", "undo-a"])
        self.assertAllDie(pids)
        # trixc is gone: its watchdog too (EOF on its socket).
        self.wait_for(lambda: not pid_alive(watchdog), timeout=5, what="the watchdog to exit after trixc")


if __name__ == "__main__":
    unittest.main()
