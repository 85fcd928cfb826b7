# SPDX-License-Identifier: GPL-2.0
"""What the crash cases' verifiers share (30-qcow2-crash-logwrites,
32-qcow2-crash-fs): reading a dm-log-writes log with replay-log, replaying
it forward state by state onto a target file, looking at the result with
QEMU's tools, and reporting failed states."""
import os
import re
import subprocess
import sys


def run(cmd):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)


def list_log(log):
    """The log's entries: (index, log offset, flags, pos, len, mark text)."""
    r = run(['replay-log', '--log', log, '--list'])
    if r.returncode:
        sys.exit('replay-log --list failed:\n' + r.stdout)
    entries = []
    for line in r.stdout.splitlines():
        if not line.startswith('#'):
            f = line.split()
            entries.append((int(f[0]), int(f[1]), set(f[2].split('|')),
                            int(f[3]), int(f[4]), f[5] if len(f) > 5 else None))
    return entries


class Replayer:
    """Replays LOG onto TARGET forward only, resuming where it stopped
    (replay-log prints the next entry and its offset)."""

    def __init__(self, log, target, entries):
        self.log, self.target = log, target
        self.nxt, self.nxt_off = 0, entries[0][1]

    def replay(self, end, exclude=None, undo_file=None):
        """Up to entry END; EXCLUDE: entries left out (a torn state);
        UNDO_FILE: record what it overwrote, and do not move forward."""
        cmd = ['replay-log', '--log', self.log, '--replay', self.target,
               '--start', str(self.nxt), '--start-offset', str(self.nxt_off),
               '--end', str(end)]
        if exclude:
            cmd += ['--exclude', ','.join(map(str, exclude))]
        if undo_file:
            cmd += ['--undo', undo_file]
        r = run(cmd)
        m = re.search(r'^next (\d+) (\d+)$', r.stdout, re.M)
        if r.returncode or not m:
            sys.exit('replay failed: %s\n%s' % (' '.join(cmd), r.stdout))
        if not undo_file:
            self.nxt, self.nxt_off = int(m.group(1)), int(m.group(2))


def inspect(target, raw):
    """qemu-img check and qemu-img convert to RAW of the qcow2 image TARGET,
    side by side: (check's exit, its output, convert's failure or None)."""
    chk = subprocess.Popen(['qemu-img', 'check', '-f', 'qcow2', target],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True)
    cv = run(['qemu-img', 'convert', '-f', 'qcow2', '-O', 'raw', target, raw])
    out = chk.communicate()[0]
    return chk.returncode, out, cv.stdout if cv.returncode else None


class Failures(list):
    """Failed states, printed as they come; the first one's image is kept
    in RESULTS as KEEP_NAME. Long details keep their HEAD and TAIL lines."""

    def __init__(self, target, results, keep_name, head=14, tail=6):
        super().__init__()
        self.target, self.results, self.keep_name = target, results, keep_name
        self.head, self.tail = head, tail

    def state(self, what, detail):
        self.append(what)
        print('FAILED STATE: ' + what)
        lines = detail.rstrip().splitlines()
        if len(lines) > self.head + self.tail + 4:
            cut = len(lines) - self.head - self.tail
            lines = (lines[:self.head] + ['[... %d lines ...]' % cut] +
                     lines[-self.tail:])
        print('  ' + '\n  '.join(lines))
        if len(self) == 1 and self.results:
            keep = os.path.join(self.results, self.keep_name)
            subprocess.run(['cp', '--sparse=always', self.target, keep])
            print('  (this state\'s image is kept as %s)' % keep)
