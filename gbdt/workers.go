package gbdt

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// workers is a team of goroutines that run the trainer's many short
// parallel loops. A tree of depth 8 has about 30 of them, some only tens of
// microseconds long: starting goroutines for each, and waking an idle core
// through the OS, costs as much as the loop itself. The team's members
// spin for a while between loops (like OpenMP's threads) and only then
// park, so a loop that follows shortly finds them running.
type workers struct {
	n      int // goroutines besides the caller
	job    atomic.Pointer[job]
	parked atomic.Int32
	wake   chan struct{}
	quit   atomic.Bool
	wg     sync.WaitGroup
}

// job is one parallel loop: tasks 0..n-1. The caller takes tasks from the
// front and the other members from the back, so with two cores each keeps
// to its end of a loop whose tasks are in row order, and the rows it
// touched in the previous loop are still in its cache. Tasks are claimed
// in chunks that shrink with what is left (guided scheduling): a loop of
// hundreds of small tasks (split searches of deep nodes) costs a few
// claims instead of two atomic operations on a shared cache line per task,
// and its last tasks are still claimed one by one, so the cores finish
// together.
type job struct {
	fn   func(i int)
	n    int64
	div  uint32        // a claim takes at most the tasks left / div
	ends atomic.Uint64 // next task from the front (low 32 bits), one past the next from the back (high 32 bits)
	_    [56]byte      // ends and left on their own cache lines
	left atomic.Int64  // tasks not yet finished
}

// take claims the next chunk [lo, hi) from the front or the back; ok is
// false when no task is left.
func (j *job) take(front bool) (lo, hi int, ok bool) {
	for {
		e := j.ends.Load()
		l, h := uint32(e), uint32(e>>32)
		if l >= h {
			return 0, 0, false
		}
		k := max(1, (h-l)/j.div)
		var next uint64
		if front {
			lo, hi, next = int(l), int(l+k), uint64(h)<<32|uint64(l+k)
		} else {
			lo, hi, next = int(h-k), int(h), uint64(h-k)<<32|uint64(l)
		}
		if j.ends.CompareAndSwap(e, next) {
			return lo, hi, true
		}
	}
}

// spinRounds is how many times an idle member polls for a job before it
// parks: about 1.5 ms here, longer than the serial work between two
// trees (a shorter spin, 0.1 ms, parked and woke through the OS about
// every tree, and training took 4% longer).
const spinRounds = 400000

// newWorkers starts nthread-1 members; the caller of run is the last one.
func newWorkers(nthread int) *workers {
	w := &workers{n: max(0, nthread-1), wake: make(chan struct{}, max(1, nthread))}
	for range w.n {
		w.wg.Add(1)
		go w.member()
	}
	return w
}

// close stops the members.
func (w *workers) close() {
	w.quit.Store(true)
	for range w.n {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	w.wg.Wait()
}

func (w *workers) member() {
	defer w.wg.Done()
	var last *job
	for {
		var j *job
		for spin := 0; ; spin++ {
			if w.quit.Load() {
				return
			}
			if j = w.job.Load(); j != last {
				break
			}
			if spin < spinRounds {
				if spin%64 == 63 {
					runtime.Gosched()
				}
				continue
			}
			w.parked.Add(1)
			if j = w.job.Load(); j != last || w.quit.Load() {
				w.parked.Add(-1)
				continue
			}
			<-w.wake
			w.parked.Add(-1)
			spin = 0
		}
		last = j
		j.work(false)
	}
}

// work runs chunks of tasks until none is left, the front ones in
// ascending order, the back ones descending, and then counts them finished.
func (j *job) work(front bool) {
	done := 0
	for {
		lo, hi, ok := j.take(front)
		if !ok {
			break
		}
		if front {
			for i := lo; i < hi; i++ {
				j.fn(i)
			}
		} else {
			for i := hi - 1; i >= lo; i-- {
				j.fn(i)
			}
		}
		done += hi - lo
	}
	if done > 0 {
		j.left.Add(-int64(done))
	}
}

// run calls fn(0..n-1) on the team and the calling goroutine, and returns
// when every call has returned.
func (w *workers) run(n int, fn func(i int)) {
	if n <= 0 {
		return
	}
	if w.n == 0 || n == 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	j := &job{fn: fn, n: int64(n), div: uint32(4 * (w.n + 1))}
	j.ends.Store(uint64(n) << 32)
	j.left.Store(int64(n))
	w.job.Store(j)
	if w.parked.Load() > 0 {
		for range w.n {
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}
	j.work(true)
	for spin := 0; j.left.Load() > 0; spin++ {
		if spin%64 == 63 {
			runtime.Gosched()
		}
	}
}
