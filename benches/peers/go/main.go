// tide-peer-go: BENCH.md's workloads and servers in Go (standard library only: goroutines,
// channels, sync.Mutex, time.Sleep), so the report measures tide against Go in the same run.
//
//	tide-peer-go [WORKLOAD ...] [--workers N] [--reps R] [--json] [--quick]
//	tide-peer-go http PORT WORKERS     the HTTP hello server of BENCH.md
//	tide-peer-go echo PORT WORKERS     TCP echo, a goroutine per connection
//
// Same definitions, sizes, self-checks, warm-up + R repetitions + median, and JSON line as
// tide-bench (benches/main.c), with "impl":"go". GOMAXPROCS is --workers. stdout carries
// results only; progress goes to stderr. Exit status: 0, 1 if a workload failed its own
// check, 2 for a bad command line.
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// sizes: BENCH.md's, or the smaller --quick ones (benches/util.c).
type sizes struct {
	spawnMany, spawnRemote, yieldTasks, yieldIters, ppPairs, ppTrips uint64
	chainCount, chainLen, mpscProducers, mpscPer, mpscCap            uint64
	mutexTasks, mutexIters, sleepTasks, idleTasks, holBusyMs         uint64
}

func getSizes(quick bool) sizes {
	if quick {
		return sizes{5000, 5000, 20, 100, 10, 100, 10, 100, 16, 1000, 64, 20, 500, 2000, 2000, 200}
	}
	return sizes{100000, 100000, 200, 1000, 100, 1000, 100, 1000, 16, 62500, 1024, 100, 1000,
		100000, 1000000, 1000}
}

// sample: one repetition's figures.
type sample struct {
	seconds, bytesPerTask    float64
	p99us, maxus, roundTrips float64 // hol_echo only
}

func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseUint(f[1], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// inTask runs body in a goroutine (as tide-bench's workloads run in a task) and waits.
func inTask(body func() (sample, error)) (sample, error) {
	type res struct {
		s   sample
		err error
	}
	ch := make(chan res)
	go func() {
		s, err := body()
		ch <- res{s, err}
	}()
	r := <-ch
	return r.s, r.err
}

func since(t0 time.Time) sample { return sample{seconds: time.Since(t0).Seconds()} }

// goEach runs body(i) for i in [0, n), each in its own goroutine; Wait on the result.
func goEach(n uint64, body func(i uint64)) *sync.WaitGroup {
	var wg sync.WaitGroup
	for i := uint64(0); i < n; i++ {
		wg.Add(1)
		go func(i uint64) {
			defer wg.Done()
			body(i)
		}(i)
	}
	return &wg
}

// expect is a workload's self-check: s, with an error saying what was counted when got is
// not want (what: a format of got and want).
func expect(s sample, got, want uint64, what string) (sample, error) {
	if got != want {
		return s, fmt.Errorf(what, got, want)
	}
	return s, nil
}

func sum(v []uint64) uint64 {
	var total uint64
	for _, x := range v {
		total += x
	}
	return total
}

// ---- spawn_many, spawn_remote ---------------------------------------------------------------

func spawnAndWait(n uint64) (sample, error) {
	var count uint64
	done := make(chan struct{})
	t0 := time.Now()
	for i := uint64(0); i < n; i++ {
		go func() {
			if atomic.AddUint64(&count, 1) == n {
				close(done)
			}
		}()
	}
	<-done
	return expect(since(t0), atomic.LoadUint64(&count), n, "%d tasks counted, expected %d")
}

func spawnMany(n uint64) (sample, error) {
	return inTask(func() (sample, error) { return spawnAndWait(n) })
}

// spawnRemote: Go has no thread outside its runtime; the closest is the main goroutine locked
// to its own OS thread, which is not one of the goroutines the workload spawns.
func spawnRemote(n uint64) (sample, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return spawnAndWait(n)
}

// ---- yield_many ----------------------------------------------------------------------------

func yieldMany(tasks, iters uint64) (sample, error) {
	return inTask(func() (sample, error) {
		done := make([]uint64, tasks)
		t0 := time.Now()
		goEach(tasks, func(t uint64) {
			for i := uint64(0); i < iters; i++ {
				runtime.Gosched()
				done[t]++
			}
		}).Wait()
		return expect(since(t0), sum(done), tasks*iters, "%d yields, expected %d")
	})
}

// ---- ping_pong -----------------------------------------------------------------------------

func pingPong(pairs, trips uint64) (sample, error) {
	return inTask(func() (sample, error) {
		ok := make([]uint64, pairs)
		var wg sync.WaitGroup
		t0 := time.Now()
		for p := uint64(0); p < pairs; p++ {
			ab, ba := make(chan uint64, 1), make(chan uint64, 1)
			wg.Add(2)
			go func(p uint64) {
				defer wg.Done()
				for i := uint64(0); i < trips; i++ {
					ab <- i
					if <-ba == i {
						ok[p]++
					}
				}
			}(p)
			go func() {
				defer wg.Done()
				for i := uint64(0); i < trips; i++ {
					ba <- <-ab
				}
			}()
		}
		wg.Wait()
		return expect(since(t0), sum(ok), pairs*trips, "%d round trips checked, expected %d")
	})
}

// ---- chained_spawn -------------------------------------------------------------------------

func link(pos, length uint64, done chan uint64) {
	if pos+1 == length {
		done <- pos + 1
		return
	}
	go link(pos+1, length, done)
}

func chainedSpawn(count, length uint64) (sample, error) {
	return inTask(func() (sample, error) {
		t0 := time.Now()
		for c := uint64(0); c < count; c++ {
			done := make(chan uint64, 1)
			go link(0, length, done)
			if got := <-done; got != length {
				return since(t0), fmt.Errorf("a chain of %d tasks, expected %d", got, length)
			}
		}
		return since(t0), nil
	})
}

// ---- channel_mpsc --------------------------------------------------------------------------

func channelMpsc(producers, per, capacity uint64) (sample, error) {
	return inTask(func() (sample, error) {
		ch := make(chan uint64, capacity)
		t0 := time.Now()
		for p := uint64(0); p < producers; p++ {
			go func(p uint64) {
				for i := uint64(0); i < per; i++ {
					ch <- p*per + i
				}
			}(p)
		}
		n := producers * per
		var total uint64
		for i := uint64(0); i < n; i++ {
			total += <-ch
		}
		return expect(since(t0), total, n*(n-1)/2, "sum %d, expected %d")
	})
}

// ---- mutex ---------------------------------------------------------------------------------

func mutex(tasks, iters uint64) (sample, error) {
	return inTask(func() (sample, error) {
		var m sync.Mutex
		var counter uint64
		t0 := time.Now()
		goEach(tasks, func(uint64) {
			for i := uint64(0); i < iters; i++ {
				m.Lock()
				counter++
				m.Unlock()
			}
		}).Wait()
		return expect(since(t0), counter, tasks*iters, "counter %d, expected %d")
	})
}

// ---- sleep_many ----------------------------------------------------------------------------

func sleepMany(n uint64) (sample, error) {
	return inTask(func() (sample, error) {
		t0 := time.Now()
		goEach(n, func(i uint64) {
			time.Sleep(time.Duration(1+i%10) * time.Millisecond)
		}).Wait()
		s := since(t0)
		longest := 1e-3 * float64(min(n, 10))
		if s.seconds < longest {
			return s, fmt.Errorf("sleeps of up to %.0f ms ended after %.6f s", longest*1e3, s.seconds)
		}
		return s, nil
	})
}

func min(a, b uint64) uint64 {
	if a < b {
		return a
	}
	return b
}

// ---- idle_many -----------------------------------------------------------------------------

// n goroutines park on one shared event (a channel closed to release them all).
func idleMany(n, rssBase uint64) (sample, error) {
	return inTask(func() (sample, error) {
		var arrived, resumed uint64
		allHere, release := make(chan struct{}), make(chan struct{})
		t0 := time.Now()
		wg := goEach(n, func(uint64) {
			if atomic.AddUint64(&arrived, 1) == n {
				close(allHere)
			}
			<-release
			atomic.AddUint64(&resumed, 1)
		})
		<-allHere
		now := rss()
		bytes := 0.0
		if now > rssBase {
			bytes = float64(now-rssBase) / float64(n)
		}
		close(release)
		wg.Wait()
		s := since(t0)
		s.bytesPerTask = bytes
		return expect(s, atomic.LoadUint64(&resumed), n, "%d tasks resumed, expected %d")
	})
}

// ---- servers -------------------------------------------------------------------------------

var response = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!")

const bufSize = 16384

// httpConn: read, answer every complete request (up to "\r\n\r\n") with response,
// keep-alive and pipelining; a request head larger than the buffer closes.
func httpConn(c net.Conn) {
	defer c.Close()
	buf := make([]byte, bufSize)
	out := make([]byte, 0, 64*len(response))
	have := 0
	sep := []byte("\r\n\r\n")
	for {
		n, err := c.Read(buf[have:])
		if n <= 0 || (err != nil && n == 0) {
			return
		}
		have += n
		pos := 0
		for {
			i := indexOf(buf[pos:have], sep)
			if i < 0 {
				break
			}
			pos += i + 4
			out = append(out, response...)
		}
		if pos > 0 {
			copy(buf, buf[pos:have])
			have -= pos
			if _, err := c.Write(out); err != nil {
				return
			}
			out = out[:0]
		} else if have == len(buf) {
			return
		}
	}
}

func indexOf(b, sep []byte) int {
	for i := 0; i+len(sep) <= len(b); i++ {
		if b[i] == sep[0] && b[i+1] == sep[1] && b[i+2] == sep[2] && b[i+3] == sep[3] {
			return i
		}
	}
	return -1
}

func echoConn(c net.Conn) {
	defer c.Close()
	buf := make([]byte, bufSize)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func acceptLoop(l net.Listener, conn func(net.Conn)) {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			fmt.Fprintf(os.Stderr, "tide-peer-go: accept: %v\n", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		go conn(c)
	}
}

func serve(kind string, port, workers int) int {
	runtime.GOMAXPROCS(workers)
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		fmt.Fprintf(os.Stderr, "tide-peer-go: listen on 127.0.0.1:%d: %v\n", port, err)
		return 1
	}
	fmt.Printf("listening on %s\n", l.Addr())
	os.Stdout.Sync()
	if kind == "http" {
		acceptLoop(l, httpConn)
	} else {
		acceptLoop(l, echoConn)
	}
	return 0
}

// ---- hol_echo ------------------------------------------------------------------------------
//
// An echo server (a goroutine per connection) on 2 workers (GOMAXPROCS 2); 10 clients with
// blocking sockets, each doing a round trip every millisecond; one more connection, to a
// second listener, is a request whose goroutine (an ordinary one, started by the accept loop)
// computes for the busy time without yielding (Go may still preempt it: that is Go's answer).
// Go has no thread outside its scheduler, so the clients run in a child process (this
// program, "hol-clients ADDR"), whose goroutines do not compete for the server's two Ps; the
// two share the wall clock for the times. Figures: p99 and max of the round trips that
// overlap the busy time, and how many there were, from the worst repetition.

const holClients = 10
const holWorkers = 2
const holMsg = 64
const holPause = time.Millisecond

// busyConn is the busy request: read the busy time (ns, int64), compute that long, answer
// when it ran (two int64, wall clock ns).
func busyConn(c net.Conn) {
	defer c.Close()
	var b [16]byte
	if _, err := io.ReadFull(c, b[:8]); err != nil {
		return
	}
	busy := time.Duration(binary.LittleEndian.Uint64(b[:8]))
	start := time.Now()
	for time.Since(start) < busy {
	}
	binary.LittleEndian.PutUint64(b[:8], uint64(start.UnixNano()))
	binary.LittleEndian.PutUint64(b[8:], uint64(time.Now().UnixNano()))
	c.Write(b[:])
}

type trip struct{ start, end int64 } // wall clock, ns

// holClientsMain is the child: 10 clients; on "report T0 T1" (stdin) it waits until every
// client has a round trip that started after T1, answers "COUNT P99_US MAX_US" for the round
// trips overlapping [T0, T1] and forgets them; "clear" forgets the round trips so far and
// answers "ok" once each client has made a new one; EOF stops it.
func holClientsMain(addr string) int {
	var mu [holClients]sync.Mutex
	var trips [holClients][]trip
	var failed atomic.Value
	for id := 0; id < holClients; id++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "tide-peer-go: hol client: %v\n", err)
			return 1
		}
		c.(*net.TCPConn).SetNoDelay(true)
		go func(id int, c net.Conn) {
			msg, back := make([]byte, holMsg), make([]byte, holMsg)
			for k := 0; ; k++ {
				for i := range msg {
					msg[i] = byte(k + i + id)
				}
				t0 := time.Now().UnixNano()
				if _, err := c.Write(msg); err != nil {
					failed.Store("write: " + err.Error())
					return
				}
				if _, err := io.ReadFull(c, back); err != nil {
					failed.Store("read: " + err.Error())
					return
				}
				t1 := time.Now().UnixNano()
				if string(back) != string(msg) {
					failed.Store("the echo differs from what was sent")
					return
				}
				mu[id].Lock()
				trips[id] = append(trips[id], trip{t0, t1})
				mu[id].Unlock()
				time.Sleep(holPause)
			}
		}(id, c)
	}
	// waitPast: every client has a round trip that started after t.
	waitPast := func(t int64) error {
		deadline := time.Now().Add(10 * time.Second)
		for {
			all := true
			for id := range trips {
				mu[id].Lock()
				n := len(trips[id])
				if n == 0 || trips[id][n-1].start <= t {
					all = false
				}
				mu[id].Unlock()
			}
			if all {
				return nil
			}
			if f := failed.Load(); f != nil {
				return errors.New(f.(string))
			}
			if time.Now().After(deadline) {
				return errors.New("clients made no round trip for 10 s")
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 1 && f[0] == "clear" {
			for id := range trips {
				mu[id].Lock()
				trips[id] = trips[id][:0]
				mu[id].Unlock()
			}
			if err := waitPast(time.Now().UnixNano()); err != nil {
				fmt.Printf("error %s\n", err)
			} else {
				fmt.Println("ok")
			}
			continue
		}
		if len(f) != 3 || f[0] != "report" {
			fmt.Println("error bad command")
			continue
		}
		t0, _ := strconv.ParseInt(f[1], 10, 64)
		t1, _ := strconv.ParseInt(f[2], 10, 64)
		if err := waitPast(t1); err != nil {
			fmt.Printf("error %s\n", err)
			continue
		}
		var lat []float64
		for id := range trips {
			mu[id].Lock()
			for _, tr := range trips[id] {
				if tr.start < t1 && tr.end > t0 {
					lat = append(lat, float64(tr.end-tr.start)/1e3)
				}
			}
			mu[id].Unlock()
		}
		if len(lat) == 0 {
			fmt.Println("error no round trip overlapped the busy time")
			continue
		}
		sort.Float64s(lat)
		idx := int(math.Ceil(float64(len(lat))*0.99)) - 1
		if idx < 0 {
			idx = 0
		}
		fmt.Printf("%d %.1f %.1f\n", len(lat), lat[idx], lat[len(lat)-1])
	}
	return 0
}

type holEnv struct {
	l     net.Listener
	busyL net.Listener
	child *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Scanner
}

func holOpen() (*holEnv, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go acceptLoop(l, echoConn)
	busyL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		l.Close()
		return nil, err
	}
	go acceptLoop(busyL, busyConn)
	self, err := os.Executable()
	if err != nil {
		l.Close()
		return nil, err
	}
	cmd := exec.Command(self, "hol-clients", l.Addr().String())
	cmd.Stderr = os.Stderr
	in, err1 := cmd.StdinPipe()
	out, err2 := cmd.StdoutPipe()
	if err1 != nil || err2 != nil {
		l.Close()
		return nil, errors.New("pipes to the client process")
	}
	if err := cmd.Start(); err != nil {
		l.Close()
		return nil, err
	}
	return &holEnv{l, busyL, cmd, in, bufio.NewScanner(out)}, nil
}

func (h *holEnv) ask(cmd string) (string, error) {
	if _, err := fmt.Fprintln(h.in, cmd); err != nil {
		return "", err
	}
	if !h.out.Scan() {
		return "", errors.New("the client process ended")
	}
	line := h.out.Text()
	if strings.HasPrefix(line, "error ") {
		return "", errors.New(line[6:])
	}
	return line, nil
}

func (h *holEnv) close() error {
	h.in.Close()
	err := h.child.Wait()
	h.l.Close()
	h.busyL.Close()
	return err
}

func holRep(h *holEnv, busy time.Duration) (sample, error) {
	if _, err := h.ask("clear"); err != nil {
		return sample{}, err
	}
	time.Sleep(50 * time.Millisecond)
	// The busy request (from this goroutine: Go has no plain thread).
	c, err := net.Dial("tcp", h.busyL.Addr().String())
	if err != nil {
		return sample{}, err
	}
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(busy))
	_, err = c.Write(b[:8])
	if err == nil {
		_, err = io.ReadFull(c, b[:])
	}
	c.Close()
	if err != nil {
		return sample{}, fmt.Errorf("the busy request: %v", err)
	}
	w := struct{ t0, t1 int64 }{int64(binary.LittleEndian.Uint64(b[:8])),
		int64(binary.LittleEndian.Uint64(b[8:]))}
	line, err := h.ask(fmt.Sprintf("report %d %d", w.t0, w.t1))
	if err != nil {
		return sample{}, err
	}
	var s sample
	if _, err := fmt.Sscanf(line, "%f %f %f", &s.roundTrips, &s.p99us, &s.maxus); err != nil {
		return s, fmt.Errorf("client process answered %q", line)
	}
	s.seconds = float64(w.t1-w.t0) / 1e9
	return s, nil
}

// ---- the runner ----------------------------------------------------------------------------

// workload: a name of BENCH.md, its operation count (0: hol_echo, which reports round trips)
// and one repetition. env carries what a repetition needs besides the sizes.
type workload struct {
	name string
	ops  func(s sizes) uint64
	run  func(s sizes, env *runEnv) (sample, error)
}

// runEnv: what runWorkload prepares once for all repetitions of a workload.
type runEnv struct {
	rssBase uint64  // RSS before the first repetition (idle_many)
	hol     *holEnv // the server and client process (hol_echo)
}

var workloads = []workload{
	{"spawn_many", func(s sizes) uint64 { return s.spawnMany },
		func(s sizes, _ *runEnv) (sample, error) { return spawnMany(s.spawnMany) }},
	{"spawn_remote", func(s sizes) uint64 { return s.spawnRemote },
		func(s sizes, _ *runEnv) (sample, error) { return spawnRemote(s.spawnRemote) }},
	{"yield_many", func(s sizes) uint64 { return s.yieldTasks * s.yieldIters },
		func(s sizes, _ *runEnv) (sample, error) { return yieldMany(s.yieldTasks, s.yieldIters) }},
	{"ping_pong", func(s sizes) uint64 { return s.ppPairs * s.ppTrips },
		func(s sizes, _ *runEnv) (sample, error) { return pingPong(s.ppPairs, s.ppTrips) }},
	{"chained_spawn", func(s sizes) uint64 { return s.chainCount * s.chainLen },
		func(s sizes, _ *runEnv) (sample, error) { return chainedSpawn(s.chainCount, s.chainLen) }},
	{"channel_mpsc", func(s sizes) uint64 { return s.mpscProducers * s.mpscPer },
		func(s sizes, _ *runEnv) (sample, error) {
			return channelMpsc(s.mpscProducers, s.mpscPer, s.mpscCap)
		}},
	{"mutex", func(s sizes) uint64 { return s.mutexTasks * s.mutexIters },
		func(s sizes, _ *runEnv) (sample, error) { return mutex(s.mutexTasks, s.mutexIters) }},
	{"sleep_many", func(s sizes) uint64 { return s.sleepTasks },
		func(s sizes, _ *runEnv) (sample, error) { return sleepMany(s.sleepTasks) }},
	{"idle_many", func(s sizes) uint64 { return s.idleTasks },
		func(s sizes, e *runEnv) (sample, error) { return idleMany(s.idleTasks, e.rssBase) }},
	{"hol_echo", func(s sizes) uint64 { return 0 },
		func(s sizes, e *runEnv) (sample, error) {
			return holRep(e.hol, time.Duration(s.holBusyMs)*time.Millisecond)
		}},
}

func workloadNames() []string {
	var names []string
	for _, w := range workloads {
		names = append(names, w.name)
	}
	return names
}

// workersFor: hol_echo always runs on holWorkers.
func workersFor(o options, w string) int {
	if w == "hol_echo" {
		return holWorkers
	}
	return o.workers
}

type options struct {
	selected []workload
	workers  int
	reps     int
	json     bool
	quick    bool
}

func usage() string {
	return "usage: tide-peer-go [WORKLOAD ...] [--workers N] [--reps R] [--json] [--quick]\n" +
		"       tide-peer-go http|echo PORT WORKERS\nworkloads: " + strings.Join(workloadNames(), " ")
}

func parseArgs(args []string) (options, error) {
	o := options{workers: runtime.NumCPU(), reps: 5}
	num := func(flag string, i int, max int) (int, error) {
		if i >= len(args) {
			return 0, fmt.Errorf("%s needs a value", flag)
		}
		n, err := strconv.Atoi(args[i])
		if err != nil || n < 1 || n > max {
			return 0, fmt.Errorf("%s wants 1..%d, not '%s'", flag, max, args[i])
		}
		return n, nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		var err error
		switch a {
		case "--workers":
			i++
			o.workers, err = num(a, i, 1024)
		case "--reps":
			i++
			o.reps, err = num(a, i, 1000)
		case "--json":
			o.json = true
		case "--quick":
			o.quick = true
		case "--impl":
			i++
			if i >= len(args) || args[i] != "go" {
				err = errors.New("--impl: this program is only 'go'")
			}
		default:
			found := false
			for _, w := range workloads {
				if w.name == a {
					o.selected = append(o.selected, w)
					found = true
				}
			}
			if !found {
				err = fmt.Errorf("unknown workload or option '%s'", a)
			}
		}
		if err != nil {
			return o, err
		}
	}
	if len(o.selected) == 0 {
		o.selected = workloads
	}
	return o, nil
}

func median(v []float64) float64 {
	sort.Float64s(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func runWorkload(o options, s sizes, wl workload) ([]sample, error) {
	w := wl.name
	runtime.GOMAXPROCS(workersFor(o, w))
	if w == "idle_many" {
		// Collect and give the free heap back to the kernel, so the goroutines parked next
		// grow the resident set (a quick run's 2,000 would otherwise fit in heap that earlier
		// workloads left resident, and measure 0 bytes each).
		debug.FreeOSMemory()
	} else {
		runtime.GC()
	}
	env := runEnv{rssBase: rss()}
	if w == "hol_echo" {
		var err error
		if env.hol, err = holOpen(); err != nil {
			return nil, err
		}
	}
	var out []sample
	var ferr error
	for rep := 0; rep <= o.reps; rep++ {
		r, err := wl.run(s, &env)
		if err != nil {
			ferr = err
			break
		}
		if w == "hol_echo" {
			fmt.Fprintf(os.Stderr, "tide-peer-go: hol_echo (go): %.0f round trips overlapped the busy "+
				"time: p99 %.1f us, max %.1f us\n", r.roundTrips, r.p99us, r.maxus)
		}
		if rep == 0 {
			fmt.Fprintf(os.Stderr, "tide-peer-go: %s (go): warm-up %.3f ms\n", w, r.seconds*1e3)
		} else {
			fmt.Fprintf(os.Stderr, "tide-peer-go: %s (go): rep %d/%d %.3f ms\n", w, rep, o.reps,
				r.seconds*1e3)
			out = append(out, r)
		}
	}
	if env.hol != nil {
		if err := env.hol.close(); err != nil && ferr == nil {
			ferr = fmt.Errorf("the client process: %v", err)
		}
	}
	return out, ferr
}

func report(o options, s sizes, wl workload, samples []sample, err error) {
	w, workers := wl.name, workersFor(o, wl.name)
	if err != nil {
		if o.json {
			fmt.Printf("{\"impl\":\"go\",\"workload\":\"%s\",\"error\":%s}\n", w, strconv.Quote(err.Error()))
		} else {
			fmt.Printf("%-14s FAILED: %v\n", w, err)
		}
		return
	}
	col := func(f func(sample) float64) float64 {
		v := make([]float64, len(samples))
		for i, x := range samples {
			v[i] = f(x)
		}
		return median(v)
	}
	secs := col(func(x sample) float64 { return x.seconds })
	if w == "hol_echo" {
		// The worst repetition (the longest round trip), not a median: a stall that happens
		// one time in three is a stall.
		worst := samples[0]
		for _, x := range samples {
			if x.maxus > worst.maxus {
				worst = x
			}
		}
		trips, p99, max := worst.roundTrips, worst.p99us, worst.maxus
		if o.json {
			fmt.Printf("{\"impl\":\"go\",\"workload\":\"hol_echo\",\"workers\":%d,\"seconds\":%.6f,"+
				"\"round_trips\":%.0f,\"p99_us\":%.1f,\"max_us\":%.1f}\n", workers, secs, trips, p99, max)
		} else {
			fmt.Printf("%-14s busy %.0f ms: %.0f round trips, p99 %.1f us, max %.1f us\n",
				w, secs*1e3, trips, p99, max)
		}
		return
	}
	n := wl.ops(s)
	bytes := col(func(x sample) float64 { return x.bytesPerTask })
	if o.json {
		extra := ""
		if w == "idle_many" {
			extra = fmt.Sprintf(",\"bytes_per_task\":%.1f", bytes)
		}
		fmt.Printf("{\"impl\":\"go\",\"workload\":\"%s\",\"workers\":%d,\"ops\":%d,\"seconds\":%.6f,"+
			"\"ns_per_op\":%.1f%s}\n", w, workers, n, secs, secs*1e9/float64(n), extra)
	} else {
		b := ""
		if w == "idle_many" {
			b = fmt.Sprintf("%.0f", bytes)
		}
		fmt.Printf("%-14s %10d %12.2f %12.1f %10s\n", w, n, secs*1e3, secs*1e9/float64(n), b)
	}
}

func main() {
	args := os.Args[1:]
	if len(args) >= 1 && (args[0] == "http" || args[0] == "echo") {
		if len(args) == 3 {
			port, e1 := strconv.Atoi(args[1])
			workers, e2 := strconv.Atoi(args[2])
			if e1 == nil && e2 == nil && port >= 0 && port < 65536 && workers >= 1 {
				os.Exit(serve(args[0], port, workers))
			}
		}
		fmt.Fprintln(os.Stderr, usage())
		os.Exit(2)
	}
	if len(args) == 2 && args[0] == "hol-clients" {
		os.Exit(holClientsMain(args[1]))
	}
	for _, a := range args {
		if a == "--help" || a == "-h" {
			fmt.Println(usage())
			return
		}
	}
	o, err := parseArgs(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tide-peer-go: %v\n%s\n", err, usage())
		os.Exit(2)
	}
	s := getSizes(o.quick)
	if !o.json {
		fmt.Printf("tide-peer-go: %d workers, %s sizes, median of %d reps after a warm-up\n\n",
			o.workers, map[bool]string{true: "quick", false: "full"}[o.quick], o.reps)
		fmt.Printf("%-14s %10s %12s %12s %10s\n", "workload", "ops", "median ms", "ns/op", "bytes/task")
	}
	failed := 0
	for _, w := range o.selected {
		samples, err := runWorkload(o, s, w)
		if err != nil {
			fmt.Fprintf(os.Stderr, "tide-peer-go: %s (go): FAILED: %v\n", w.name, err)
			failed++
		}
		report(o, s, w, samples, err)
	}
	if failed > 0 {
		os.Exit(1)
	}
}
