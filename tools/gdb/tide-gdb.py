# tide's gdb extension: list a program's tide tasks and print the backtrace of any of them,
# parked ones included (gdb alone sees only the worker threads, so a parked task's stack is
# invisible to it). Load it with
#
#     (gdb) source /path/to/tools/gdb/tide-gdb.py
#
# Commands:
#     tide tasks            every live task of every live runtime: id, name, state, worker,
#                           what it waits on, spawn site
#     tide bt ID|NAME|all   the backtrace of a task (a parked task: from its saved context; a
#                           running task: its worker thread's stack)
#
# How it finds things: the runtime keeps a list of live runtimes in the global
# `tide__runtimes` (runtime/debug.c); each runtime's task records sit in chunks
# (rt->tasks.chunks, runtime/task_alloc.h), a record with id 0 is free. A task switched out
# keeps its registers on its own stack, at t->ctx.sp, in the layout of runtime/ctx_x86_64.S
# (or ctx_aarch64.S, untested; or a ucontext_t in the TIDE_CTX_UCONTEXT build). To show that stack, `tide bt` does what Go's runtime-gdb.py does for
# goroutines: it saves the current thread's registers, loads the task's saved ones, runs `bt`
# and puts everything back. It needs the program's debug information (-g; the default
# RelWithDebInfo build has it) and a live process: a core file's registers cannot be written.

import struct

import gdb

# task.h: state word = [seq:56 | reason:3 | state:5]; flags.
_STATES = {0: "running", 1: "waiting", 2: "waking", 3: "runnable", 4: "done", 5: "running"}
_TF_DONE = 1 << 0
_TF_CANCELLED = 1 << 3

# The saved frame at ctx.sp: (arch, frame size, {register: offset}, pc offset, fp register).
_X86_64 = ("x86-64", 64,
           {"r15": 8, "r14": 16, "r13": 24, "r12": 32, "rbx": 40, "rbp": 48}, 56)
_AARCH64 = ("aarch64", 176,
            dict([("x%d" % (19 + i), 8 * i) for i in range(10)] + [("x29", 80), ("x30", 88)]),
            88)


def _arch():
    name = gdb.selected_inferior().architecture().name()
    if "x86-64" in name:
        return _X86_64
    if "aarch64" in name:
        return _AARCH64
    raise gdb.GdbError("tide: no saved-context layout for architecture %s" % name)


def _string(v):
    try:
        return v.string() if int(v) else ""
    except gdb.error:
        return "?"


def _runtimes():
    try:
        link = gdb.parse_and_eval("tide__runtimes")
    except gdb.error:
        raise gdb.GdbError("tide: no symbol tide__runtimes: is this a tide program built "
                           "with debug information (-g)?")
    while int(link):
        yield link["rt"]
        link = link["next"]


def _tasks(rt):
    chunk = rt["tasks"]["chunks"]
    while int(chunk):
        records = chunk["tasks"]
        for i in range(int(chunk["count"])):
            t = records[i]
            if int(t["id"]):
                yield t
        chunk = chunk["next"]


class Task(object):
    """What the dump shows of one task record, read once."""

    def __init__(self, rt, t):
        self.rt = rt
        self.t = t
        self.id = int(t["id"])
        self.name = t["name"].string()
        flags = int(t["flags"])
        state = int(t["state"]) & 0x1f
        self.done = bool(flags & _TF_DONE)
        self.state = "done" if self.done else _STATES.get(state, "?")
        self.cancelled = bool(flags & _TF_CANCELLED)
        self.worker = None
        if self.state == "running" and int(t["worker"]):
            self.worker = t["worker"]
        self.waiting_on = _string(t["waiting_on"]) if self.state == "waiting" else ""
        self.site = "%s:%d" % (_string(t["spawn_file"]) or "?", int(t["spawn_line"]))
        self.sp = int(t["ctx"]["sp"])
        self.has_stack = bool(int(t["stack"]))

    def label(self):
        return "task %d%s" % (self.id, " '%s'" % self.name if self.name else "")


def _all_tasks():
    for rt in _runtimes():
        for t in _tasks(rt):
            yield Task(rt, t)


def _find(spec):
    tasks = list(_all_tasks())
    if spec == "all":
        return tasks
    try:
        want = int(spec, 0)
        found = [t for t in tasks if t.id == want]
    except ValueError:
        found = [t for t in tasks if t.name == spec]
    if not found:
        raise gdb.GdbError("tide: no live task %s" % spec)
    return found


class TideCommand(gdb.Command):
    """Commands for tide programs: tide tasks, tide bt ID|NAME|all."""

    def __init__(self):
        super(TideCommand, self).__init__("tide", gdb.COMMAND_STACK, gdb.COMPLETE_NONE, True)


class TideTasks(gdb.Command):
    """List the live tasks of every tide runtime.

Usage: tide tasks
Shows each task's id, name, state, the worker running it, what a parked task waits on, and
where it was spawned (the same fields as tide_runtime_dump)."""

    def __init__(self):
        super(TideTasks, self).__init__("tide tasks", gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        nrt = 0
        for rt in _runtimes():
            nrt += 1
            tasks = [Task(rt, t) for t in _tasks(rt)]
            gdb.write("runtime %d (%s): %d workers, %d tasks\n"
                      % (int(rt["serial"]), rt, int(rt["nworkers"]), len(tasks)))
            gdb.write("  %6s  %-20s %-9s %-6s %-24s %s\n"
                      % ("ID", "NAME", "STATE", "WORKER", "WAITING ON", "SPAWNED AT"))
            for t in sorted(tasks, key=lambda t: t.id):
                state = t.state + ("*" if t.cancelled else "")
                worker = str(int(t.worker["index"])) if t.worker is not None else "-"
                gdb.write("  %6d  %-20s %-9s %-6s %-24s %s\n"
                          % (t.id, t.name or "-", state, worker, t.waiting_on or "-", t.site))
        if not nrt:
            gdb.write("tide: no live runtime\n")


def _read_u64(addr):
    mem = gdb.selected_inferior().read_memory(addr, 8)
    return struct.unpack("<Q", bytes(mem))[0]


def _with_registers(regs, command):
    """Run command with the selected thread's registers set to regs, then restore them."""
    # A gdb.Frame does not survive register writes (gdb rebuilds its frames): keep the level.
    level = gdb.selected_frame().level()
    names = list(regs)
    # Linux/x86-64: writing $pc makes gdb cancel a pending system-call restart (orig_rax = -1),
    # which would turn the thread's interrupted futex or sleep into an error once it resumes.
    extra = ["orig_rax"] if "rip" in regs else []
    gdb.execute("select-frame 0")  # registers can be written in the innermost frame only
    saved = {}
    for r in names + extra:
        try:
            saved[r] = int(gdb.parse_and_eval("(long)$" + r))
        except gdb.error:
            pass
    try:
        for r in names:
            gdb.execute("set $%s = %d" % (r, regs[r]), to_string=True)
        gdb.execute(command)
    finally:
        gdb.execute("select-frame 0")
        for r in names + extra:
            if r in saved:
                gdb.execute("set $%s = %d" % (r, saved[r]), to_string=True)
        gdb.execute("select-frame %d" % level)


# The ucontext fallback (TIDE_CTX_UCONTEXT, runtime/ctx_ucontext.c): ctx.sp points to a
# ucontext_t; these are glibc's x86-64 gregs indices (REG_R12... in <sys/ucontext.h>).
_UCONTEXT_X86_64 = {"r12": 4, "r13": 5, "r14": 6, "r15": 7, "rbp": 10, "rbx": 11,
                    "rsp": 15, "rip": 16}


def _saved_registers(sp):
    """The registers a switched-out task saved at ctx.sp, as {gdb register name: value}."""
    name, size, offsets, pc_off = _arch()
    if gdb.lookup_static_symbol("uctx_start") is not None:
        if name != "x86-64":
            raise gdb.GdbError("tide: the ucontext build is supported on x86-64 only")
        gregs = gdb.parse_and_eval("(ucontext_t *)%d" % sp)["uc_mcontext"]["gregs"]
        return dict((r, int(gregs[i]) & 0xffffffffffffffff)
                    for r, i in _UCONTEXT_X86_64.items())
    regs = dict((r, _read_u64(sp + off)) for r, off in offsets.items())
    pc = _read_u64(sp + pc_off)
    if name == "x86-64":
        regs["rip"] = pc
        regs["rsp"] = sp + size
    else:
        regs["pc"] = pc
        regs["sp"] = sp + size
    return regs


def _backtrace(task, command):
    if task.done:
        gdb.write("%s has ended (status %d)\n" % (task.label(), int(task.t["status"])))
        return
    if task.worker is not None:
        # Running: its registers are its worker thread's.
        thread = gdb.selected_inferior().thread_from_handle(task.worker["thread"])
        if thread is None:
            gdb.write("%s is running, but its worker thread was not found\n" % task.label())
            return
        gdb.write("%s is running on worker %d (gdb thread %d)\n"
                  % (task.label(), int(task.worker["index"]), thread.num))
        current = gdb.selected_thread()
        level = gdb.selected_frame().level()
        thread.switch()
        try:
            gdb.execute(command)
        finally:
            current.switch()
            gdb.execute("select-frame %d" % level)
        return
    if not task.has_stack or not task.sp:
        gdb.write("%s has not run yet: it has no stack\n" % task.label())
        return
    regs = _saved_registers(task.sp)
    gdb.write("%s, %s%s, spawned at %s:\n"
              % (task.label(), task.state,
                 " on " + task.waiting_on if task.waiting_on else "", task.site))
    _with_registers(regs, command)


class TideBt(gdb.Command):
    """Print the backtrace of a tide task.

Usage: tide bt ID|NAME|all [BT-ARGS]
ID is the task's id (as in `tide tasks`), NAME its name (every task of that name), `all`
every live task. BT-ARGS are passed to `bt` (e.g. `full`, or a frame count). A parked task's
backtrace comes from the registers it saved when it switched out; the selected thread's
registers are borrowed for it and restored afterwards."""

    def __init__(self):
        super(TideBt, self).__init__("tide bt", gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        args = gdb.string_to_argv(arg)
        if not args:
            raise gdb.GdbError("usage: tide bt ID|NAME|all [BT-ARGS]")
        command = " ".join(["bt"] + args[1:])
        for task in _find(args[0]):
            _backtrace(task, command)


TideCommand()
TideTasks()
TideBt()
