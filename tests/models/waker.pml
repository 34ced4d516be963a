/* The waker state machine with parking (runtime/waker.c, runtime/task.h, and the scheduler's
 * half in runtime/worker.c run_task), checked exhaustively by spin.
 *
 * One task waits on a primitive (a channel-like condition under a lock, the pattern of the
 * comment above tide_park_prepare in include/tide/core.h); a producer makes the condition true
 * and wakes the registered waker; a timer armed for the wait fires once, at any moment, so it
 * may be current or stale (a later wait's sequence number); two workers run the task whenever
 * it is queued. The task loops: open a wait, check the condition, register, park; after a
 * wake (real or spurious) it withdraws its waker and checks again.
 *
 * Checked:
 *   no double run:     a task is never queued twice, never queued while on a CPU, and never
 *                      on two CPUs (assertions);
 *   no lost wake-up:   the task eventually sees the condition and ends (LTL, weak fairness).
 *
 * Each step names the C function and line it models (line numbers of the branch `tooling`,
 * commit after 37d3683; the functions are the stable reference). Promela steps are sequentially
 * consistent: the C code's seq_cst read-modify-writes on the state word give the same order,
 * and its plain loads are single steps here. The state word's seq, reason and state are one
 * 64-bit atomic in C: here `seq` and `st` change together inside one atomic step.
 *
 * spin -DMUTANT: the scheduler stores WAITING blindly when a task parks, instead of the
 * compare-and-swap from RUNNING (worker.c:483-487) that notices a wake which arrived while the
 * task was still on its CPU (NOTIFIED). The check must then find a lost wake-up.
 * spin -DMUTANT_DOUBLE: a wake checks the state and then stores, instead of compare-and-swap
 * (waker.c:95): two wakes of one wait (the producer's and the timer's) both queue the task.
 * The check must then find a double run. */

#define RUNNING  0
#define WAITING  1
#define NOTIFIED 2
#define RUNNABLE 3
#define DONE     4
#define RESUMED  5

/* Where the task resumes when a worker switches to it. */
#define PC_START 0        /* first run: task body from the top */
#define PC_AFTER_PARK 1   /* returning from tide__switch_out(t, SWITCH_PARK), waker.c:186 */

byte st = RUNNABLE;    /* ST_STATE(t->state): spawned runnable (task.c tide__spawn) */
byte seq = 1;          /* ST_SEQ(t->state) */
byte runq = 1;         /* times the task sits in a run queue (spawned: once) */
bool oncpu = false;    /* a worker has switched to the task and it has not switched back */
byte pc = PC_START;
bool done = false;     /* the task saw the condition and returned */

bool ready = false;    /* the primitive's condition (say, an item in a channel) */
bool plock = false;    /* the primitive's lock */
bool registered = false; /* a waker is stored in the primitive */
byte reg_seq = 0;      /* its sequence number */
byte armed_seq = 0;    /* the wait the timer was armed for (0: not armed yet) */

inline lock(l)   { atomic { !l -> l = true } }
inline unlock(l) { l = false }

/* tide__schedule (worker.c tide__schedule / push_local): into a run queue. */
inline schedule() {
    assert(runq == 0);  /* no double queueing */
    assert(!oncpu);     /* a task migrates only while runnable, never while running */
    runq++
}

/* tide__wake(t, w, reason), waker.c:85-105. */
inline wake(w) {
    byte ls, lq, nx;
    bool ok;
    do
    :: d_step { ls = st; lq = seq }                       /* waker.c:86  load state */
       if
       :: lq != w -> break                                /* waker.c:88  stale */
       :: lq == w && ls == WAITING -> nx = RUNNABLE       /* waker.c:91 */
       :: lq == w && ls == RUNNING -> nx = NOTIFIED       /* waker.c:92 */
       :: lq == w && ls != WAITING && ls != RUNNING -> break /* waker.c:93 */
       fi;
#ifdef MUTANT_DOUBLE
       st = nx; ok = true;                                /* MUTANT_DOUBLE: store, no CAS */
#else
       atomic {                                           /* waker.c:95  CAS */
           if
           :: st == ls && seq == lq -> st = nx; ok = true
           :: else -> ok = false
           fi
       }
#endif
       if
       :: ok && ls == WAITING -> schedule(); break        /* waker.c:96-100 */
       :: ok && ls != WAITING -> break                    /* waker.c:102 */
       :: !ok -> skip                                     /* CAS failed: retry */
       fi
    od
}

/* The producer side of the primitive: make the condition true, wake the registered waker
 * (the pattern of sync/ primitives: under the lock, take the waker; wake after unlocking). */
active proctype producer() {
    byte w;
    lock(plock);
    ready = true;
    if
    :: registered -> registered = false; w = reg_seq; unlock(plock); wake(w)
    :: else -> unlock(plock)
    fi
}

/* The wait's timer (timer.c via tide__timer_fire, worker.c:190): fires once, at any moment
 * after it was armed, possibly after the wait it was armed for has ended. */
active proctype timer() {
    byte w;
    armed_seq != 0;
    w = armed_seq;
    wake(w)
}

/* A worker: tide__worker_main's loop (worker.c:634-642) running this one task. The task's own
 * code is inlined where the worker switches to it (worker.c:470) and comes back (471). */
active [2] proctype worker() {
    byte cur;
    bool parked;
end_idle:
    do
    :: atomic { runq > 0 -> runq-- }                      /* next_task / pop_local, worker.c:635 */
again:
       /* run_task, worker.c:454-457: RUNNABLE or NOTIFIED -> RESUMED, seq kept */
       st = RESUMED;
       assert(!oncpu);                                    /* never on two CPUs */
       oncpu = true;                                      /* worker.c:470 switch to the task */
       /* ---- on the task's stack ---- */
       if
       :: pc == PC_AFTER_PARK ->
          /* park returned (waker.c:186-189); the primitive withdraws a waker still stored
           * (step 4 of the waker pattern) */
          lock(plock);
          if
          :: registered && reg_seq == seq -> registered = false
          :: else -> skip
          fi;
          unlock(plock)
       :: else -> skip
       fi;
wait_loop:
       /* tide_park_prepare, waker.c:114-120: a new wait, state RUNNING */
       d_step { seq++; st = RUNNING };
       /* the primitive: lock; if ready, take it; else register the waker */
       lock(plock);
       if
       :: ready ->
          ready = false;
          unlock(plock);
          /* the wait is not used: the task returns; task_entry -> tide__task_finish
           * (task.c) sets DONE on the worker */
          d_step { st = DONE; done = true; oncpu = false };
          goto next
       :: else ->
          registered = true;
          reg_seq = seq;
          unlock(plock)
       fi;
       /* park_until_at, waker.c:180-186: arm the wait's timer (once in this model), switch out */
       if
       :: armed_seq == 0 -> armed_seq = seq
       :: true -> skip
       fi;
       pc = PC_AFTER_PARK;
       oncpu = false;                                     /* tide__switch_out -> worker.c:471 */
       /* ---- back on the worker: run_task, SWITCH_PARK, worker.c:482-494 ---- */
#ifdef MUTANT
       st = WAITING;                                      /* MUTANT: blind store */
       parked = true;
#else
       cur = st;                                          /* worker.c:483 load */
       if
       :: cur == RUNNING ->
          atomic {                                        /* worker.c:485-486 CAS */
              if
              :: st == cur -> st = WAITING; parked = true
              :: else -> parked = false
              fi
          }
       :: else -> parked = false
       fi;
#endif
       if
       :: parked -> skip                                  /* worker.c:487: a waker owns it */
       :: !parked -> /* NOTIFIED before it got off the CPU */
          if
          :: goto again                                   /* worker.c:490 budget left */
          :: st = RUNNABLE; schedule()                    /* worker.c:491-493 budget spent */
          fi
       fi;
next:  skip
    od
}

/* No lost wake-up, in the states where nothing can move any more: the task has ended. */
active proctype quiescence() {
    timeout -> assert(done)
}

/* And in every infinite run (under weak fairness): the task ends eventually. */
ltl no_lost_wakeup { <> done }
