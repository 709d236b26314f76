package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// pgServerCPU measures the CPU time the PostgreSQL server spends during a
// run, read from /proc (the bench uses only a loopback PostgreSQL, which
// is on this machine unless it runs in a container of its own). It
// samples every 100 ms, so a process that ends between two samples loses
// at most that much, and it counts two sets of processes:
//   - the backends connected to the run's database: the work envoi asked
//     for, and nothing else;
//   - every process of the server (the postmaster and its children: the
//     backends, the WAL writer, the checkpointer, the background writer),
//     which adds the work the backends hand over (writing the WAL and the
//     pages) but also counts what other databases of the same server do
//     meanwhile.
type pgServerCPU struct {
	db   *sql.DB
	stop chan struct{}
	done chan struct{}
	// postmaster is the pid of the server's postmaster, the parent of the
	// sampler's own backend; 0 when /proc does not show it.
	postmaster int

	mu       sync.Mutex
	backends cpuSamples
	server   cpuSamples
}

// cpuSamples is the CPU of a set of processes, by pid: when first seen (0
// if it started during the run) and when last seen.
type cpuSamples struct{ first, last map[int]time.Duration }

func (c *cpuSamples) add(pid int, cpu time.Duration, start bool) {
	if c.first == nil {
		c.first, c.last = map[int]time.Duration{}, map[int]time.Duration{}
	}
	if _, seen := c.first[pid]; !seen {
		c.first[pid] = 0
		if start {
			c.first[pid] = cpu
		}
	}
	c.last[pid] = cpu
}

func (c *cpuSamples) total() time.Duration {
	var t time.Duration
	for pid, cpu := range c.last {
		t += cpu - c.first[pid]
	}
	return t
}

// startPGServerCPU starts sampling the server of the database at dbURL.
func startPGServerCPU(ctx context.Context, dbURL string) (*pgServerCPU, error) {
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	p := &pgServerCPU{db: db, stop: make(chan struct{}), done: make(chan struct{})}
	var self int
	if err := db.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&self); err != nil {
		db.Close()
		return nil, err
	}
	p.postmaster = procParent(self)
	if err := p.sample(ctx, true); err != nil {
		db.Close()
		return nil, err
	}
	go func() {
		defer close(p.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				_ = p.sample(ctx, false)
			}
		}
	}()
	return p, nil
}

func (p *pgServerCPU) sample(ctx context.Context, start bool) error {
	rows, err := p.db.QueryContext(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`)
	if err != nil {
		return err
	}
	var pids []int
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) == nil {
			pids = append(pids, pid)
		}
	}
	rows.Close()
	var server []int
	if p.postmaster != 0 {
		server = append(procChildren(p.postmaster), p.postmaster)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pid := range pids {
		if cpu, ok := procCPU(pid); ok {
			p.backends.add(pid, cpu, start)
		}
	}
	for _, pid := range server {
		if cpu, ok := procCPU(pid); ok {
			p.server.add(pid, cpu, start)
		}
	}
	return nil
}

// Stop ends the sampling, after a last sample.
func (p *pgServerCPU) Stop(ctx context.Context) {
	close(p.stop)
	<-p.done
	_ = p.sample(ctx, false)
	p.db.Close()
}

// report writes the server's CPU, in all and for each of n messages; it
// writes nothing without a PostgreSQL server (p nil).
func (p *pgServerCPU) report(w io.Writer, n int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(n) }
	if len(p.backends.last) == 0 {
		fmt.Fprintf(w, "PostgreSQL server: CPU not measured: /proc shows no process of the backends serving the run's database (is the server in a container?)\n")
		return
	}
	b := p.backends.total()
	fmt.Fprintf(w, "PostgreSQL server: CPU %.1fs (%.2f ms a message) in the backends serving the run's database\n", b.Seconds(), ms(b))
	if len(p.server.last) == 0 {
		fmt.Fprintf(w, "PostgreSQL server, all its processes: CPU not measured: /proc shows no postgres process\n")
		return
	}
	a := p.server.total()
	fmt.Fprintf(w, "PostgreSQL server, all its processes: CPU %.1fs (%.2f ms a message; WAL writer, checkpointer and other databases' work included)\n", a.Seconds(), ms(a))
}

// procParent returns the parent of process pid, 0 when /proc does not
// show it.
func procParent(pid int) int {
	f := procStatFields(pid)
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1]) // field 4
	return ppid
}

// procChildren returns the processes whose parent is pid.
func procChildren(pid int) []int {
	// The kernel lists a process's children per thread; the postmaster
	// has one thread, whose id is its pid. Kernels built without that
	// list leave a walk of /proc.
	var out []int
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(pid) + "/children")
	if err != nil {
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			if c, err := strconv.Atoi(e.Name()); err == nil && procParent(c) == pid {
				out = append(out, c)
			}
		}
		return out
	}
	for _, f := range strings.Fields(string(b)) {
		if c, err := strconv.Atoi(f); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// procCPU returns the user and system CPU time of process pid.
func procCPU(pid int) (time.Duration, bool) {
	f := procStatFields(pid)
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, false
	}
	const clockTicks = 100 // USER_HZ, 100 on Linux
	return time.Duration(utime+stime) * time.Second / clockTicks, true
}

// procStatFields returns the fields of /proc/pid/stat after the command
// name, the first being the state (field 3); nil when there is no such
// process.
func procStatFields(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	// The command name, in parentheses, may hold spaces: fields count
	// from after its closing parenthesis.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}
