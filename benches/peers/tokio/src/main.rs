//! tide-peer-tokio: BENCH.md's workloads and servers on tokio's multi-thread runtime, so the
//! report measures tide against tokio in the same run.
//!
//!   tide-peer-tokio [WORKLOAD ...] [--workers N] [--reps R] [--json] [--quick]
//!   tide-peer-tokio http PORT WORKERS     the HTTP hello server of BENCH.md
//!   tide-peer-tokio echo PORT WORKERS     TCP echo, a task per connection
//!
//! Same definitions, sizes, self-checks, warm-up + R repetitions + median, and JSON line as
//! tide-bench (benches/main.c), with "impl":"tokio". stdout carries results only; progress
//! goes to stderr. Exit status: 0, 1 if a workload failed its own check, 2 for a bad command
//! line. The multi-thread runtime has --workers worker threads; every workload but
//! spawn_remote runs inside a spawned task (never on the block_on thread) and times itself
//! there.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex as StdMutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::{Builder, Runtime};
use tokio::sync::{mpsc, oneshot, Mutex, Notify, Semaphore};

const WORKLOADS: [&str; 10] = [
    "spawn_many",
    "spawn_remote",
    "yield_many",
    "ping_pong",
    "chained_spawn",
    "channel_mpsc",
    "mutex",
    "sleep_many",
    "idle_many",
    "hol_echo",
];

/// Workload sizes: BENCH.md's, or the smaller --quick ones (benches/util.c).
#[derive(Clone, Copy)]
struct Sizes {
    spawn_many: u64,
    spawn_remote: u64,
    yield_tasks: u64,
    yield_iters: u64,
    pp_pairs: u64,
    pp_trips: u64,
    chain_count: u64,
    chain_len: u64,
    mpsc_producers: u64,
    mpsc_per: u64,
    mpsc_cap: u64,
    mutex_tasks: u64,
    mutex_iters: u64,
    sleep_tasks: u64,
    idle_tasks: u64,
    hol_busy_ms: u64,
}

fn sizes(quick: bool) -> Sizes {
    if quick {
        Sizes {
            spawn_many: 5000,
            spawn_remote: 5000,
            yield_tasks: 20,
            yield_iters: 100,
            pp_pairs: 10,
            pp_trips: 100,
            chain_count: 10,
            chain_len: 100,
            mpsc_producers: 16,
            mpsc_per: 1000,
            mpsc_cap: 64,
            mutex_tasks: 20,
            mutex_iters: 500,
            sleep_tasks: 2000,
            idle_tasks: 2000,
            hol_busy_ms: 200,
        }
    } else {
        Sizes {
            spawn_many: 100_000,
            spawn_remote: 100_000,
            yield_tasks: 200,
            yield_iters: 1000,
            pp_pairs: 100,
            pp_trips: 1000,
            chain_count: 100,
            chain_len: 1000,
            mpsc_producers: 16,
            mpsc_per: 62_500,
            mpsc_cap: 1024,
            mutex_tasks: 100,
            mutex_iters: 1000,
            sleep_tasks: 100_000,
            idle_tasks: 1_000_000,
            hol_busy_ms: 1000,
        }
    }
}

fn ops(w: &str, s: &Sizes) -> u64 {
    match w {
        "spawn_many" => s.spawn_many,
        "spawn_remote" => s.spawn_remote,
        "yield_many" => s.yield_tasks * s.yield_iters,
        "ping_pong" => s.pp_pairs * s.pp_trips,
        "chained_spawn" => s.chain_count * s.chain_len,
        "channel_mpsc" => s.mpsc_producers * s.mpsc_per,
        "mutex" => s.mutex_tasks * s.mutex_iters,
        "sleep_many" => s.sleep_tasks,
        "idle_many" => s.idle_tasks,
        _ => 0,
    }
}

/// One repetition's figures.
#[derive(Default, Clone, Copy)]
struct Sample {
    seconds: f64,
    bytes_per_task: f64,
    // hol_echo only
    p99_us: f64,
    max_us: f64,
    round_trips: f64,
}

type Rep = Result<Sample, String>;

extern "C" {
    fn malloc_trim(pad: usize) -> i32;
}

fn rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    for line in s.lines() {
        if let Some(rest) = line.strip_prefix("VmRSS:") {
            let kb: u64 = rest.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
            return kb * 1024;
        }
    }
    0
}

fn runtime(workers: usize) -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Run body inside a task on rt (a worker thread, as tide-bench's workloads run in a task).
fn in_task<F>(rt: &Runtime, body: F) -> Rep
where
    F: std::future::Future<Output = Rep> + Send + 'static,
{
    rt.block_on(async move {
        match tokio::spawn(body).await {
            Ok(r) => r,
            Err(e) => Err(format!("the workload's task failed: {}", e)),
        }
    })
}

fn timed(t0: Instant) -> Sample {
    Sample { seconds: t0.elapsed().as_secs_f64(), ..Default::default() }
}

// ---- spawn_many, spawn_remote --------------------------------------------------------------

struct Countdown {
    count: AtomicU64,
    n: u64,
    done: Notify,
}

fn count_task(c: Arc<Countdown>) {
    if c.count.fetch_add(1, Ordering::AcqRel) + 1 == c.n {
        c.done.notify_one(); // stores a permit if the spawner is not waiting yet
    }
}

async fn spawn_many(n: u64) -> Rep {
    let c = Arc::new(Countdown { count: AtomicU64::new(0), n, done: Notify::new() });
    let t0 = Instant::now();
    for _ in 0..n {
        let c = c.clone();
        tokio::spawn(async move { count_task(c) });
    }
    c.done.notified().await;
    let s = timed(t0);
    let got = c.count.load(Ordering::Acquire);
    if got != n {
        return Err(format!("{} tasks counted, expected {}", got, n));
    }
    Ok(s)
}

/// From the calling plain thread (not a runtime thread): spawn n counting tasks and wait for
/// the signal on a condition variable.
fn spawn_remote(rt: &Runtime, n: u64) -> Rep {
    struct Remote {
        count: AtomicU64,
        n: u64,
        done: StdMutex<bool>,
        cv: Condvar,
    }
    let c = Arc::new(Remote {
        count: AtomicU64::new(0),
        n,
        done: StdMutex::new(false),
        cv: Condvar::new(),
    });
    let t0 = Instant::now();
    for _ in 0..n {
        let c = c.clone();
        rt.spawn(async move {
            if c.count.fetch_add(1, Ordering::AcqRel) + 1 == c.n {
                *c.done.lock().unwrap() = true;
                c.cv.notify_one();
            }
        });
    }
    let mut done = c.done.lock().unwrap();
    while !*done {
        done = c.cv.wait(done).unwrap();
    }
    drop(done);
    let s = timed(t0);
    let got = c.count.load(Ordering::Acquire);
    if got != n {
        return Err(format!("{} tasks counted, expected {}", got, n));
    }
    Ok(s)
}

// ---- yield_many ----------------------------------------------------------------------------

async fn yield_many(tasks: u64, iters: u64) -> Rep {
    let t0 = Instant::now();
    let hs: Vec<_> = (0..tasks)
        .map(|_| {
            tokio::spawn(async move {
                let mut done = 0u64;
                for _ in 0..iters {
                    tokio::task::yield_now().await;
                    done += 1;
                }
                done
            })
        })
        .collect();
    let mut total = 0;
    for h in hs {
        total += h.await.map_err(|e| format!("a yielding task: {}", e))?;
    }
    let s = timed(t0);
    if total != tasks * iters {
        return Err(format!("{} yields, expected {}", total, tasks * iters));
    }
    Ok(s)
}

// ---- ping_pong -----------------------------------------------------------------------------

async fn ping_pong(pairs: u64, trips: u64) -> Rep {
    let t0 = Instant::now();
    let mut a_hs = Vec::new();
    let mut b_hs = Vec::new();
    for _ in 0..pairs {
        let (ab_tx, mut ab_rx) = mpsc::channel::<u64>(1);
        let (ba_tx, mut ba_rx) = mpsc::channel::<u64>(1);
        a_hs.push(tokio::spawn(async move {
            let mut ok = 0u64;
            for i in 0..trips {
                if ab_tx.send(i).await.is_err() {
                    break;
                }
                match ba_rx.recv().await {
                    Some(v) if v == i => ok += 1,
                    Some(_) => {}
                    None => break,
                }
            }
            ok
        }));
        b_hs.push(tokio::spawn(async move {
            for _ in 0..trips {
                let v = match ab_rx.recv().await {
                    Some(v) => v,
                    None => break,
                };
                if ba_tx.send(v).await.is_err() {
                    break;
                }
            }
        }));
    }
    let mut ok = 0;
    for h in a_hs {
        ok += h.await.map_err(|e| format!("task A: {}", e))?;
    }
    for h in b_hs {
        h.await.map_err(|e| format!("task B: {}", e))?;
    }
    let s = timed(t0);
    if ok != pairs * trips {
        return Err(format!("{} round trips checked, expected {}", ok, pairs * trips));
    }
    Ok(s)
}

// ---- chained_spawn -------------------------------------------------------------------------

/// The task at position `pos` of a chain of `len`: spawns the next, or signals if last.
fn link(pos: u64, len: u64, done: oneshot::Sender<u64>) {
    tokio::spawn(async move {
        if pos + 1 == len {
            let _ = done.send(pos + 1);
        } else {
            link(pos + 1, len, done);
        }
    });
}

async fn chained_spawn(count: u64, len: u64) -> Rep {
    let t0 = Instant::now();
    for _ in 0..count {
        let (tx, rx) = oneshot::channel();
        link(0, len, tx);
        let got = rx.await.map_err(|_| "a chain broke".to_string())?;
        if got != len {
            return Err(format!("a chain of {} tasks, expected {}", got, len));
        }
    }
    Ok(timed(t0))
}

// ---- channel_mpsc --------------------------------------------------------------------------

async fn channel_mpsc(producers: u64, per: u64, cap: u64) -> Rep {
    let t0 = Instant::now();
    let (tx, mut rx) = mpsc::channel::<u64>(cap as usize);
    let hs: Vec<_> = (0..producers)
        .map(|p| {
            let tx = tx.clone();
            tokio::spawn(async move {
                for i in 0..per {
                    if tx.send(p * per + i).await.is_err() {
                        return false;
                    }
                }
                true
            })
        })
        .collect();
    drop(tx);
    let n = producers * per;
    let mut sum = 0u64;
    for _ in 0..n {
        match rx.recv().await {
            Some(v) => sum = sum.wrapping_add(v),
            None => return Err("the channel closed early".into()),
        }
    }
    for h in hs {
        if !h.await.map_err(|e| format!("a producer: {}", e))? {
            return Err("a producer's send failed".into());
        }
    }
    let s = timed(t0);
    let want = n * (n - 1) / 2;
    if sum != want {
        return Err(format!("sum {}, expected {}", sum, want));
    }
    Ok(s)
}

// ---- mutex ---------------------------------------------------------------------------------

async fn mutex(tasks: u64, iters: u64) -> Rep {
    let t0 = Instant::now();
    let m = Arc::new(Mutex::new(0u64));
    let hs: Vec<_> = (0..tasks)
        .map(|_| {
            let m = m.clone();
            tokio::spawn(async move {
                for _ in 0..iters {
                    *m.lock().await += 1;
                }
            })
        })
        .collect();
    for h in hs {
        h.await.map_err(|e| format!("a locking task: {}", e))?;
    }
    let s = timed(t0);
    let total = *m.lock().await;
    if total != tasks * iters {
        return Err(format!("counter {}, expected {}", total, tasks * iters));
    }
    Ok(s)
}

// ---- sleep_many ----------------------------------------------------------------------------

async fn sleep_many(n: u64) -> Rep {
    let t0 = Instant::now();
    let hs: Vec<_> = (0..n)
        .map(|i| tokio::spawn(tokio::time::sleep(Duration::from_millis(1 + i % 10))))
        .collect();
    for h in hs {
        h.await.map_err(|e| format!("a sleeping task: {}", e))?;
    }
    let s = timed(t0);
    let longest = 1e-3 * (n.min(10) as f64);
    if s.seconds < longest {
        return Err(format!("sleeps of up to {:.0} ms ended after {:.6} s", longest * 1e3, s.seconds));
    }
    Ok(s)
}

// ---- idle_many -----------------------------------------------------------------------------

/// n tasks park on one shared event (a semaphore with no permits, closed to release them all:
/// a closed semaphore wakes every waiter and stays open, like a set event).
async fn idle_many(n: u64, rss_base: u64) -> Rep {
    struct Idle {
        n: u64,
        arrived: AtomicU64,
        resumed: AtomicU64,
        all_here: Notify,
        release: Semaphore,
    }
    let c = Arc::new(Idle {
        n,
        arrived: AtomicU64::new(0),
        resumed: AtomicU64::new(0),
        all_here: Notify::new(),
        release: Semaphore::new(0),
    });
    let t0 = Instant::now();
    let hs: Vec<_> = (0..n)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move {
                if c.arrived.fetch_add(1, Ordering::AcqRel) + 1 == c.n {
                    c.all_here.notify_one();
                }
                let _ = c.release.acquire().await; // Err once closed: released
                c.resumed.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    c.all_here.notified().await;
    let now = rss();
    let bytes = if now > rss_base { (now - rss_base) as f64 / n as f64 } else { 0.0 };
    c.release.close();
    for h in hs {
        h.await.map_err(|e| format!("a parked task: {}", e))?;
    }
    let mut s = timed(t0);
    s.bytes_per_task = bytes;
    let resumed = c.resumed.load(Ordering::Acquire);
    if resumed != n {
        return Err(format!("{} tasks resumed, expected {}", resumed, n));
    }
    Ok(s)
}

// ---- servers -------------------------------------------------------------------------------

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";
const BUF_SIZE: usize = 16384;

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The HTTP hello connection: read, answer every complete request (up to "\r\n\r\n") with
/// RESPONSE, keep-alive and pipelining; a request head larger than the buffer closes.
async fn http_conn(mut s: tokio::net::TcpStream) {
    let mut buf = vec![0u8; BUF_SIZE];
    let mut have = 0usize;
    let mut out = Vec::with_capacity(64 * RESPONSE.len());
    loop {
        let n = match s.read(&mut buf[have..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        have += n;
        let mut pos = 0;
        while let Some(end) = find(&buf[pos..have], b"\r\n\r\n") {
            pos += end + 4;
            out.extend_from_slice(RESPONSE);
        }
        if pos > 0 {
            buf.copy_within(pos..have, 0);
            have -= pos;
            if s.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        } else if have == buf.len() {
            return; // too large
        }
    }
}

async fn echo_conn(mut s: tokio::net::TcpStream) {
    let mut buf = vec![0u8; BUF_SIZE];
    loop {
        let n = match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if s.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

async fn accept_loop<F, Fut>(l: tokio::net::TcpListener, conn: F)
where
    F: Fn(tokio::net::TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        match l.accept().await {
            Ok((s, _)) => {
                let _ = s.set_nodelay(true);
                tokio::spawn(conn(s));
            }
            Err(e) => {
                eprintln!("tide-peer-tokio: accept: {}", e);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

fn serve(kind: &str, port: u16, workers: usize) -> i32 {
    let rt = runtime(workers);
    rt.block_on(async move {
        let l = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("tide-peer-tokio: listen on 127.0.0.1:{}: {}", port, e);
                return 1;
            }
        };
        println!("listening on 127.0.0.1:{}", l.local_addr().map(|a| a.port()).unwrap_or(port));
        let _ = std::io::stdout().flush();
        let h = if kind == "http" {
            tokio::spawn(accept_loop(l, http_conn))
        } else {
            tokio::spawn(accept_loop(l, echo_conn))
        };
        let _ = h.await;
        0
    })
}

// ---- hol_echo ------------------------------------------------------------------------------

/// hol_echo (docs/benchmarks.md, benches/hol.c): an echo server (a task per connection) on 2
/// workers, 10 plain client threads with blocking sockets each doing a round trip every
/// millisecond; one more connection, to a second listener, is a request whose task (an
/// ordinary one, spawned by the accept loop) computes for the busy time without yielding.
/// The figures: p99 and max of the round trips that overlap that busy time, and how many
/// there were, from the worst repetition.
const HOL_CLIENTS: usize = 10;
const HOL_WORKERS: usize = 2;
const HOL_MSG: usize = 64;
const HOL_PAUSE: Duration = Duration::from_millis(1);

/// The busy request: read the busy time (f64 seconds), compute that long, answer when it ran
/// (two f64, seconds since epoch).
async fn busy_conn(mut s: tokio::net::TcpStream, epoch: Instant) {
    let mut b = [0u8; 8];
    if s.read_exact(&mut b).await.is_err() {
        return;
    }
    let secs = f64::from_ne_bytes(b);
    let start = Instant::now();
    let t0 = epoch.elapsed().as_secs_f64();
    while start.elapsed().as_secs_f64() < secs {
        std::hint::spin_loop();
    }
    let t1 = epoch.elapsed().as_secs_f64();
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&t0.to_ne_bytes());
    out[8..].copy_from_slice(&t1.to_ne_bytes());
    let _ = s.write_all(&out).await;
}

struct HolClients {
    stop: Arc<AtomicBool>,
    /// per client: (start, end) of each round trip, seconds since `epoch`
    trips: Arc<Vec<StdMutex<Vec<(f64, f64)>>>>,
    threads: Vec<std::thread::JoinHandle<Result<(), String>>>,
    epoch: Instant,
    busy_addr: SocketAddr,
}

fn hol_client(addr: SocketAddr, id: usize, c: Arc<Vec<StdMutex<Vec<(f64, f64)>>>>,
              stop: Arc<AtomicBool>, epoch: Instant) -> Result<(), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect: {}", e))?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut msg = [0u8; HOL_MSG];
    let mut back = [0u8; HOL_MSG];
    let mut k: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        for (i, b) in msg.iter_mut().enumerate() {
            *b = (k as usize + i + id) as u8;
        }
        let t0 = epoch.elapsed().as_secs_f64();
        s.write_all(&msg).map_err(|e| format!("write: {}", e))?;
        s.read_exact(&mut back).map_err(|e| format!("read: {}", e))?;
        let t1 = epoch.elapsed().as_secs_f64();
        if back != msg {
            return Err("the echo differs from what was sent".into());
        }
        c[id].lock().unwrap().push((t0, t1));
        k += 1;
        std::thread::sleep(HOL_PAUSE);
    }
    Ok(())
}

fn hol_open(rt: &Runtime) -> Result<HolClients, String> {
    let l = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .map_err(|e| format!("listen: {}", e))?;
    let addr = l.local_addr().map_err(|e| e.to_string())?;
    rt.spawn(accept_loop(l, echo_conn));
    let busy_l = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .map_err(|e| format!("listen: {}", e))?;
    let busy_addr = busy_l.local_addr().map_err(|e| e.to_string())?;
    let epoch = Instant::now();
    rt.spawn(accept_loop(busy_l, move |s| busy_conn(s, epoch)));
    let stop = Arc::new(AtomicBool::new(false));
    let trips: Arc<Vec<_>> = Arc::new((0..HOL_CLIENTS).map(|_| StdMutex::new(Vec::new())).collect());
    let threads = (0..HOL_CLIENTS)
        .map(|id| {
            let (t, s) = (trips.clone(), stop.clone());
            std::thread::spawn(move || hol_client(addr, id, t, s, epoch))
        })
        .collect();
    Ok(HolClients { stop, trips, threads, epoch, busy_addr })
}

fn hol_close(c: HolClients) -> Result<(), String> {
    c.stop.store(true, Ordering::Relaxed);
    let mut first = Ok(());
    for t in c.threads {
        let r = t.join().unwrap_or_else(|_| Err("a client thread panicked".into()));
        if first.is_ok() {
            first = r;
        }
    }
    first
}

/// Wait until every client has finished a round trip that started after `t` (seconds since
/// the epoch): then every earlier one is recorded. Err after `limit`.
fn hol_wait_past(c: &HolClients, t: f64, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        let all = c.trips.iter().all(|v| v.lock().unwrap().last().map_or(false, |x| x.0 > t));
        if all {
            return Ok(());
        }
        if c.threads.iter().any(|h| h.is_finished()) {
            return Err("a client stopped (connection failed or wrong echo)".into());
        }
        if Instant::now() > deadline {
            return Err(format!("clients made no round trip for {:?}", limit));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn hol_rep(c: &HolClients, busy: Duration) -> Rep {
    for v in c.trips.iter() {
        v.lock().unwrap().clear();
    }
    // Steady state: every client has round trips going.
    let now = c.epoch.elapsed().as_secs_f64();
    hol_wait_past(c, now, Duration::from_secs(10))?;
    std::thread::sleep(Duration::from_millis(50));
    // The busy request, from this plain thread.
    let mut t = [0u8; 16];
    let mut s = TcpStream::connect(c.busy_addr).map_err(|e| format!("busy request: {}", e))?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    s.write_all(&busy.as_secs_f64().to_ne_bytes())
        .and_then(|_| s.read_exact(&mut t))
        .map_err(|e| format!("the busy request: {}", e))?;
    let mut b = [0u8; 8];
    b.copy_from_slice(&t[..8]);
    let t0 = f64::from_ne_bytes(b);
    b.copy_from_slice(&t[8..]);
    let t1 = f64::from_ne_bytes(b);
    hol_wait_past(c, t1, Duration::from_secs(10))?;
    let mut lat: Vec<f64> = Vec::new();
    for v in c.trips.iter() {
        for &(a, b) in v.lock().unwrap().iter() {
            if a < t1 && b > t0 {
                lat.push(b - a);
            }
        }
    }
    hol_figures(t1 - t0, lat)
}

fn hol_figures(seconds: f64, mut lat: Vec<f64>) -> Rep {
    if lat.is_empty() {
        return Err("no round trip overlapped the busy time".into());
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let idx = ((lat.len() as f64 * 0.99).ceil() as usize).max(1) - 1;
    Ok(Sample {
        seconds,
        p99_us: lat[idx] * 1e6,
        max_us: lat[lat.len() - 1] * 1e6,
        round_trips: lat.len() as f64,
        ..Default::default()
    })
}

// ---- the runner ----------------------------------------------------------------------------

struct Options {
    selected: Vec<&'static str>,
    workers: usize,
    reps: usize,
    json: bool,
    quick: bool,
}

fn usage() -> String {
    format!(
        "usage: tide-peer-tokio [WORKLOAD ...] [--workers N] [--reps R] [--json] [--quick]\n\
         \x20      tide-peer-tokio http|echo PORT WORKERS\nworkloads: {}",
        WORKLOADS.join(" ")
    )
}

fn parse_num(flag: &str, v: Option<&String>, max: usize) -> Result<usize, String> {
    match v.and_then(|s| s.parse::<usize>().ok()) {
        Some(n) if n >= 1 && n <= max => Ok(n),
        _ => Err(format!("{} wants 1..{}", flag, max)),
    }
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        selected: Vec::new(),
        workers: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        reps: 5,
        json: false,
        quick: false,
    };
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        match a {
            "--workers" => {
                o.workers = parse_num(a, args.get(i + 1), 1024)?;
                i += 1;
            }
            "--reps" => {
                o.reps = parse_num(a, args.get(i + 1), 1000)?;
                i += 1;
            }
            "--json" => o.json = true,
            "--quick" => o.quick = true,
            "--impl" => {
                // accepted for symmetry with tide-bench: only "tokio" is this program
                match args.get(i + 1).map(|s| s.as_str()) {
                    Some("tokio") => i += 1,
                    _ => return Err("--impl: this program is only 'tokio'".into()),
                }
            }
            _ => match WORKLOADS.iter().find(|w| **w == a) {
                Some(w) => o.selected.push(w),
                None => return Err(format!("unknown workload or option '{}'", a)),
            },
        }
        i += 1;
    }
    if o.selected.is_empty() {
        o.selected = WORKLOADS.to_vec();
    }
    Ok(o)
}

fn median(v: &mut Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Warm-up, then reps repetitions of workload w on one runtime (hol_echo: on its own).
fn run_workload(o: &Options, s: &Sizes, w: &str) -> Result<Vec<Sample>, String> {
    let workers = if w == "hol_echo" { HOL_WORKERS } else { o.workers };
    let rt = runtime(workers);
    // Give freed heap back first: memory the earlier workloads freed stays in glibc's arenas,
    // and idle_many's tasks reusing it would show no growth at all (a quick run once did).
    unsafe { malloc_trim(0) };
    let rss_base = rss();
    let hol = if w == "hol_echo" { Some(hol_open(&rt)?) } else { None };
    let mut samples = Vec::new();
    let mut err = None;
    for rep in 0..=o.reps {
        let r = match w {
            "spawn_many" => {
                let n = s.spawn_many;
                in_task(&rt, spawn_many(n))
            }
            "spawn_remote" => spawn_remote(&rt, s.spawn_remote),
            "yield_many" => in_task(&rt, yield_many(s.yield_tasks, s.yield_iters)),
            "ping_pong" => in_task(&rt, ping_pong(s.pp_pairs, s.pp_trips)),
            "chained_spawn" => in_task(&rt, chained_spawn(s.chain_count, s.chain_len)),
            "channel_mpsc" => {
                in_task(&rt, channel_mpsc(s.mpsc_producers, s.mpsc_per, s.mpsc_cap))
            }
            "mutex" => in_task(&rt, mutex(s.mutex_tasks, s.mutex_iters)),
            "sleep_many" => in_task(&rt, sleep_many(s.sleep_tasks)),
            "idle_many" => in_task(&rt, idle_many(s.idle_tasks, rss_base)),
            "hol_echo" => {
                hol_rep(hol.as_ref().unwrap(), Duration::from_millis(s.hol_busy_ms))
            }
            _ => Err("unknown workload".into()),
        };
        match r {
            Ok(x) => {
                if w == "hol_echo" {
                    eprintln!("tide-peer-tokio: hol_echo (tokio): {:.0} round trips overlapped the busy \
                               time: p99 {:.1} us, max {:.1} us", x.round_trips, x.p99_us, x.max_us);
                }
                if rep == 0 {
                    eprintln!("tide-peer-tokio: {} (tokio): warm-up {:.3} ms", w, x.seconds * 1e3);
                } else {
                    eprintln!("tide-peer-tokio: {} (tokio): rep {}/{} {:.3} ms", w, rep, o.reps,
                              x.seconds * 1e3);
                    samples.push(x);
                }
            }
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    if let Some(h) = hol {
        if let Err(e) = hol_close(h) {
            err.get_or_insert(e);
        }
    }
    rt.shutdown_timeout(Duration::from_secs(1));
    match err {
        Some(e) => Err(e),
        None => Ok(samples),
    }
}

fn report(o: &Options, s: &Sizes, w: &str, r: &Result<Vec<Sample>, String>) {
    let workers = if w == "hol_echo" { HOL_WORKERS } else { o.workers };
    let samples = match r {
        Err(e) => {
            if o.json {
                println!("{{\"impl\":\"tokio\",\"workload\":\"{}\",\"error\":{}}}", w, json_str(e));
            } else {
                println!("{:<14} FAILED: {}", w, e);
            }
            return;
        }
        Ok(v) => v,
    };
    let col = |f: fn(&Sample) -> f64| median(&mut samples.iter().map(f).collect());
    let secs = col(|x| x.seconds);
    if w == "hol_echo" {
        // The worst repetition (the longest round trip), not a median: a stall that happens
        // one time in three is a stall.
        let worst = samples.iter().fold(samples[0], |a, b| if b.max_us > a.max_us { *b } else { a });
        let (p99, max, trips) = (worst.p99_us, worst.max_us, worst.round_trips);
        if o.json {
            println!("{{\"impl\":\"tokio\",\"workload\":\"hol_echo\",\"workers\":{},\"seconds\":{:.6},\
                      \"round_trips\":{:.0},\"p99_us\":{:.1},\"max_us\":{:.1}}}",
                     workers, secs, trips, p99, max);
        } else {
            println!("{:<14} busy {:.0} ms: {:.0} round trips, p99 {:.1} us, max {:.1} us",
                     w, secs * 1e3, trips, p99, max);
        }
        return;
    }
    let n = ops(w, s);
    let bytes = col(|x| x.bytes_per_task);
    if o.json {
        let mut line = format!(
            "{{\"impl\":\"tokio\",\"workload\":\"{}\",\"workers\":{},\"ops\":{},\"seconds\":{:.6},\
             \"ns_per_op\":{:.1}",
            w, workers, n, secs, secs * 1e9 / n as f64
        );
        if w == "idle_many" {
            line.push_str(&format!(",\"bytes_per_task\":{:.1}", bytes));
        }
        line.push('}');
        println!("{}", line);
    } else {
        println!("{:<14} {:>10} {:>12.2} {:>12.1} {:>10}", w, n, secs * 1e3, secs * 1e9 / n as f64,
                 if w == "idle_many" { format!("{:.0}", bytes) } else { String::new() });
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map_or(false, |a| a == "http" || a == "echo") {
        let port = args.get(1).and_then(|p| p.parse::<u16>().ok());
        let workers = args.get(2).and_then(|p| p.parse::<usize>().ok()).filter(|&n| n >= 1);
        match (port, workers, args.len()) {
            (Some(p), Some(n), 3) => std::process::exit(serve(&args[0], p, n)),
            _ => {
                eprintln!("{}", usage());
                std::process::exit(2);
            }
        }
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", usage());
        return;
    }
    let o = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("tide-peer-tokio: {}\n{}", e, usage());
            std::process::exit(2);
        }
    };
    let s = sizes(o.quick);
    if !o.json {
        println!("tide-peer-tokio: {} workers, {} sizes, median of {} reps after a warm-up\n",
                 o.workers, if o.quick { "quick" } else { "full" }, o.reps);
        println!("{:<14} {:>10} {:>12} {:>12} {:>10}", "workload", "ops", "median ms", "ns/op",
                 "bytes/task");
    }
    let mut failed = 0;
    for w in &o.selected {
        let r = run_workload(&o, &s, w);
        if let Err(e) = &r {
            eprintln!("tide-peer-tokio: {} (tokio): FAILED: {}", w, e);
            failed += 1;
        }
        report(&o, &s, w, &r);
        let _ = std::io::stdout().flush();
    }
    std::process::exit(if failed > 0 { 1 } else { 0 });
}
