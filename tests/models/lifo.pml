/* The LIFO slot's handshake between its owner and a stall watcher (runtime/runq.h
 * tide__lifo_take / tide__lifo_put, runtime/park.c lifo_steal), checked exhaustively by spin.
 *
 * The owner fills the slot with wakes (a plain store into an empty slot; a displacing put and
 * a take inside its section: store lifo_taking, load lifo_thief, read and write the slot,
 * store lifo_taking = 0). The watcher, seeing the slot full, takes lifo_thief with a CAS,
 * calls membarrier(2), and exchanges the slot empty unless lifo_taking is set.
 *
 * Unlike the other models, the owner's memory is x86-TSO, not sequentially consistent: the
 * handshake exists because a store may wait in the store buffer past a later load. The owner's
 * stores go into a FIFO buffer that a flusher commits to memory one at a time, whenever; its
 * loads see its own newest buffered store first. membarrier is one atomic step that commits
 * the whole buffer: a full barrier on the owner's CPU at whatever point it has reached. The
 * watcher's own steps are locked instructions, a system call and loads, so they are
 * sequentially consistent here.
 *
 * Checked (assertions): no task runs twice (taken by both), and, once both sides are done and
 * the buffer is empty, every task has run or still sits in the slot (none lost).
 *
 * spin -DMUTANT: the watcher skips membarrier. The check must then find a task run twice.
 * spin -DMUTANT_NOWAIT: the owner does not look for a thief. The same. */

#define NT 3          /* wakes (tasks) the owner makes */
#define ROUNDS 2      /* watcher looks */
#define SLOT 0
#define TAKING 1
#define BUF 4         /* a put's store, then a section's three */

byte mem[2];          /* lifo (0: empty, else the task) and lifo_taking, as in memory */
bool thief = false;   /* lifo_thief */
byte bvar[BUF + 1];   /* the owner's store buffer, oldest first: which variable (one spare
                         entry, always 0, so the shift below stays inside the array) */
byte bval[BUF + 1];   /* and the value stored */
byte bn = 0;          /* stores in the buffer */
byte ran[NT + 1];     /* runs of each task (the owner's, the watcher's, or the deque's) */
bool odone = false, wdone = false;

inline commit1() {
    mem[bvar[0]] = bval[0];
    bvar[0] = bvar[1]; bval[0] = bval[1];
    bvar[1] = bvar[2]; bval[1] = bval[2];
    bvar[2] = bvar[3]; bval[2] = bval[3];
    bvar[3] = 0; bval[3] = 0;
    bn--
}

/* A store by the owner: into its buffer. */
inline ostore(v, x) { atomic { bn < BUF -> bvar[bn] = v; bval[bn] = x; bn++ } }

/* A load by the owner: its newest buffered store to v, else memory. */
inline oload(v, r) {
    atomic {
        r = mem[v];
        i = 0;
        do
        :: i < bn -> if :: bvar[i] == v -> r = bval[i] :: else -> skip fi; i++
        :: else -> break
        od
    }
}

inline ran_once(t) { atomic { assert(ran[t] == 0); ran[t]++ } }

active proctype flusher() {
end:
    do
    :: atomic { bn > 0 -> commit1() }
    od
}

/* The owner's section: store lifo_taking, then load lifo_thief (no fence); an owner that sees
 * the thief waits until it is gone (tide__lifo_enter, tide__lifo_wait_thief). */
#ifndef MUTANT_NOWAIT
inline enter() { ostore(TAKING, 1); (!thief) }
#else
inline enter() { ostore(TAKING, 1) }
#endif
inline leave() { ostore(TAKING, 0) }

active proctype owner() {
    byte next = 1, t, i;
    do
    :: next <= NT ->                 /* a wake: tide__lifo_put */
        oload(SLOT, t);
        if
        :: t == 0 -> ostore(SLOT, next)
        :: else ->
            enter();
            oload(SLOT, t);
            ostore(SLOT, next);
            leave();
            if :: t != 0 -> ran_once(t) :: else -> skip fi /* displaced: to the deque */
        fi;
        next++
    :: true ->                       /* a pick: next_local, tide__lifo_take */
        oload(SLOT, t);
        if
        :: t != 0 ->
            enter();
            oload(SLOT, t);
            ostore(SLOT, 0);
            leave();
            if :: t != 0 -> ran_once(t) :: else -> skip fi /* 0: the watcher took it */
        :: else -> skip
        fi
    :: next > NT -> break
    od;
    odone = true
}

active proctype watcher() {             /* park.c lifo_steal */
    byte r = 0, t;
    do
    :: r < ROUNDS ->
        if
        :: mem[SLOT] != 0 ->
            atomic { !thief -> thief = true };
#ifndef MUTANT
            atomic { do :: bn > 0 -> commit1() :: else -> break od } /* membarrier */
#endif
            if
            :: mem[TAKING] == 0 ->
                atomic { t = mem[SLOT]; mem[SLOT] = 0 };
                if :: t != 0 -> ran_once(t) :: else -> skip fi
            :: else -> skip
            fi;
            thief = false
        :: else -> skip
        fi;
        r++
    :: r >= ROUNDS -> break
    od;
    wdone = true
}

active proctype check() {
    byte k = 1;
    (odone && wdone && bn == 0);
    do
    :: k <= NT -> assert(ran[k] == 1 || (ran[k] == 0 && mem[SLOT] == k)); k++
    :: else -> break
    od
}
