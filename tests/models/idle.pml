/* The idle-worker protocol (runtime/idle.c, and the worker's half in runtime/worker.c: search,
 * to_searching, from_searching, park, push_local), checked exhaustively by spin.
 *
 * N workers; a plain thread pushes ITEMS tasks to the inject queue (tide__push_remote) and
 * tasks that run spawn up to CHILDREN more onto their worker's deque (push_local); idle
 * workers search (the global queue, then stealing), at most half of them at once, and park
 * on their futex word when they find nothing. Parking has no timeout here: in the runtime a
 * parked worker also wakes for its timers and to give idle stacks back, which would hide a
 * lost wake-up rather than prevent it.
 *
 * Checked:
 *   no lost wake-up: every task pushed is eventually run, whatever the interleaving (LTL,
 *                    weak fairness): work is never stranded while workers sleep;
 *   the counters:    searching and unparked stay within 0..N (assertions).
 *
 * Each step names the C function and line it models (line numbers of the branch `tooling`,
 * commit after 37d3683). Promela is sequentially consistent; the C code gets the orders this
 * relies on from seq_cst read-modify-writes on idle.state and the seq_cst fence in
 * tide__notify_work (idle.c:53-54) paired with the worker's seq_cst fetch_sub in park
 * (worker.c:334). Queue operations are single steps (their own correctness is tested in
 * test_deque and by the suite's stress tests, not here); reading several queues
 * (work_visible) is one step per queue, as in C. The LIFO slot and the 61-tick fairness pick
 * are not modelled (they reorder a worker's own work, not who sleeps).
 *
 * spin -DMUTANT: park does not look at the queues again after announcing its sleep
 * (worker.c:344). The check must then find a lost wake-up. */

#ifndef N
#define N 2
#endif
#ifndef ITEMS
#define ITEMS 2
#endif
#ifndef CHILDREN
#define CHILDREN 2
#endif

byte G = 0;              /* inject queue length */
byte L[N];               /* local deque lengths */
byte searching = 0;      /* IDLE_SEARCHING(idle.state) */
byte unparked = N;       /* IDLE_UNPARKED(idle.state): tide__idle_init, idle.c:13 */
bool ilock = false;      /* idle.lock */
byte sleepers[N];        /* idle.sleepers (a stack) */
byte nsleepers = 0;
bool sleeping[N];        /* w->sleeping */
bool unpark[N];          /* w->unpark, the futex word */
bool wsearching[N];      /* w->searching */
byte made = 0;           /* tasks pushed (ghost) */
byte ran = 0;            /* tasks run (ghost) */
byte children = 0;       /* children spawned so far */
bool pdone = false;      /* the pushing thread is finished */

inline lock()   { atomic { !ilock -> ilock = true } }
inline unlock() { ilock = false }

/* work_visible, worker.c:181-186: the global queue, then each deque, one read at a time. */
inline work_visible(vis) {
    vis = (G > 0);
    j = 0;
    do
    :: j < N -> vis = vis || (L[j] > 0); j++
    :: else -> break
    od;
    j = 0
}

/* tide__notify_work, idle.c:46-71. */
inline notify_work() {
    /* idle.c:53-56: fence, load, should_wake (idle.c:42-44) */
    if
    :: searching == 0 && unparked < N ->
       lock();                                            /* idle.c:57 */
       if
       :: searching == 0 && unparked < N && nsleepers > 0 ->  /* idle.c:58 */
          nsleepers--;                                    /* idle.c:62 */
          v = sleepers[nsleepers];
          sleepers[nsleepers] = 0;
          sleeping[v] = false;                            /* idle.c:63 */
          d_step { searching++; unparked++ };             /* idle.c:65 */
          assert(searching <= N && unparked <= N);
          unpark[v] = true;                               /* idle.c:66 */
          unlock();                                       /* idle.c:67; futex wake 69 */
          v = 0
       :: else -> unlock()                                /* idle.c:59-60 */
       fi
    :: else -> skip                                       /* idle.c:56 */
    fi
}

/* The plain thread: tide__push_remote (worker.c:77-80) ITEMS times. */
active proctype pusher() {
    byte v, j;
    byte i = 0;
    do
    :: i < ITEMS ->
       d_step { G++; made++ };                            /* worker.c:78 inject push */
       notify_work();                                     /* worker.c:79 */
       i++
    :: else -> break
    od;
    pdone = true
}

active [N] proctype worker() {
    byte me = _pid - 1;                                   /* pusher is pid 0 */
    byte v, j, prev, s;
    bool got, vis;
end_loop:
    do
    :: /* worker.c:635 next_task: the local deque, then the global queue (pop_global) */
       got = false;
       atomic { if :: L[me] > 0 -> L[me]--; got = true :: else -> skip fi };
       if
       :: !got -> atomic { if :: G > 0 -> G--; got = true :: else -> skip fi }
       :: else -> skip
       fi;
       if
       :: !got ->
          /* worker.c:636 search(), worker.c:580-596; first to_searching, 219-227 */
          if
          :: wsearching[me] -> skip
          :: else ->
             s = searching;                               /* worker.c:222 load */
             if
             :: 2 * s >= N -> s = 0; goto park            /* worker.c:223: enough searchers */
             :: else ->
                s = 0;
                searching++;                              /* worker.c:224 fetch_add */
                assert(searching <= N);
                wsearching[me] = true                     /* worker.c:225 */
             fi
          fi;
          /* one round of the search loop: pop_global, then steal_any (worker.c:586-587) */
          atomic { if :: G > 0 -> G--; got = true :: else -> skip fi };
          j = 0;
          do
          :: !got && j < N ->
             atomic { if :: j != me && L[j] > 0 -> L[j]--; got = true :: else -> skip fi };
             j++
          :: else -> break
          od;
          j = 0;
          if
          :: !got -> goto park                            /* worker.c:591: give up  */
          :: else -> skip
          fi
       :: else -> skip
       fi;

       /* ---- run_task, worker.c:448-450: from_searching, worker.c:231-237 ---- */
       got = false;
       if
       :: wsearching[me] ->
          wsearching[me] = false;
          d_step { prev = searching; searching-- };       /* worker.c:234 fetch_sub */
          if
          :: prev == 1 ->
             work_visible(vis);                           /* worker.c:236 */
             if
             :: vis -> notify_work()
             :: else -> skip
             fi;
             vis = false
          :: else -> skip
          fi;
          prev = 0
       :: else -> skip
       fi;
       ran++;
       /* the task's body may spawn a child: tide__spawn -> push_local, worker.c:65-71 */
       if
       :: children < CHILDREN ->
          d_step { children++; made++; L[me]++ };         /* worker.c:66 deque push */
          if
          :: !wsearching[me] && L[me] > 1 -> notify_work()   /* worker.c:69-70 */
          :: else -> skip
          fi
       :: true -> skip
       fi;
       goto next;

park:  /* ---- park(), worker.c:319-377 (no timers: deadline INT64_MAX) ---- */
       got = false;
       lock();                                            /* worker.c:332 */
       d_step {                                           /* worker.c:333-334 fetch_sub */
           unparked--;
           if
           :: wsearching[me] -> searching--
           :: else -> skip
           fi
       };
       sleepers[nsleepers] = me;                          /* worker.c:335 */
       nsleepers++;
       sleeping[me] = true;                               /* worker.c:336 */
       unlock();                                          /* worker.c:337 */
       wsearching[me] = false;                            /* worker.c:338 */
#ifndef MUTANT
       work_visible(vis);                                 /* worker.c:344 look once more */
       if
       :: vis -> notify_work()
       :: else -> skip
       fi;
       vis = false;
#endif
       /* worker.c:353-361: exchange(unpark, 0), else futex_wait while it is 0 */
end_park:
       atomic { unpark[me] -> unpark[me] = false };
       wsearching[me] = true;                             /* worker.c:365: counted as searching */
next:  skip
    od
}

/* No lost wake-up, in the states where nothing can move any more (every worker parked, the
 * pusher finished): all the work pushed has run. */
active proctype quiescence() {
    timeout -> assert(pdone && ran == made)
}

/* And in every infinite run (under weak fairness): the work all runs eventually. */
ltl no_lost_wakeup { <> [] (pdone && ran == made) }
