package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// load is what keeps the machine busy while the harness measures: CPU
// burners (busy shell loops, one process each) and, optionally, a `go
// build` of the module looping in a private, emptied build cache so each
// pass is a full compile. Every process it starts is in a process group
// of its own and is stopped by that group's id.
type load struct {
	procs []*exec.Cmd
	cache string
	stop  chan struct{}
	done  chan struct{}
}

// atNormalPriority puts a load process back at nice 0: it would
// otherwise inherit the harness's raised priority (raisePriority).
const atNormalPriority = "renice -n 0 -p $$ >/dev/null; "

// raisePriority sets the nice value of every thread of this process (new
// threads inherit it from the thread that makes them; so do child
// processes). The harness runs the emulated sidecars, the servers and the
// probes' clocks in one process: it stands in for a pod's containers,
// which a cluster gives their CPU requests, and the load around it
// (burners, builds) is noise it must be judged under, not a part of the
// system being judged.
func raisePriority(nice int) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("listing this process's threads: %w", err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice); err != nil {
			return fmt.Errorf("setting nice %d on thread %d: %w (run as root, or -nice 0)", nice, tid, err)
		}
	}
	return nil
}

// startLoad starts burners CPU burners and, when build is set, the
// looping build.
func startLoad(burners int, build bool) (*load, error) {
	l := &load{stop: make(chan struct{}), done: make(chan struct{})}
	for range burners {
		cmd := exec.Command("sh", "-c", atNormalPriority+"while :; do :; done")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			l.Stop()
			return nil, fmt.Errorf("starting a CPU burner: %w", err)
		}
		l.procs = append(l.procs, cmd)
	}
	if !build {
		return l, nil
	}
	dir, err := os.MkdirTemp("", "localbench-gocache-")
	if err != nil {
		l.Stop()
		return nil, err
	}
	l.cache = dir
	go l.buildLoop()
	return l, nil
}

// buildLoop compiles the module from an empty cache, again and again,
// until Stop.
func (l *load) buildLoop() {
	defer close(l.done)
	for pass := 1; ; pass++ {
		os.RemoveAll(l.cache)
		cmd := exec.Command("sh", "-c", atNormalPriority+"exec go build ./...")
		cmd.Env = append(os.Environ(), "GOCACHE="+l.cache)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			fmt.Fprintf(os.Stderr, "localbench: the load's go build did not start: %v\n", err)
			return
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case <-l.stop:
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
			return
		case err := <-exited:
			if err != nil {
				fmt.Fprintf(os.Stderr, "localbench: the load's go build (pass %d) failed: %v\n", pass, err)
				return
			}
		}
	}
}

// Stop ends every process the load started and removes the build cache.
func (l *load) Stop() {
	if l == nil {
		return
	}
	select {
	case <-l.stop:
		return
	default:
		close(l.stop)
	}
	for _, p := range l.procs {
		syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
		p.Wait()
	}
	if l.cache != "" { // the build loop runs
		<-l.done
		os.RemoveAll(l.cache)
	}
}

func (l *load) String() string {
	s := fmt.Sprintf("%d CPU burners", len(l.procs))
	if l.cache != "" {
		s += " + a looping cold `go build ./...`"
	}
	return s
}
