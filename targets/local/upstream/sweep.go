package upstream

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Sweep stops the servers of suite processes that were killed (their
// folder's pid is gone) and removes their folders; it returns what it
// removed. A server started by a live process is left alone.
func Sweep() ([]string, error) {
	entries, err := os.ReadDir(Root)
	if err != nil {
		return nil, nil
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), dirPrefix)
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(rest)
		if err != nil || pid <= 0 || alive(pid) {
			continue
		}
		dir := filepath.Join(Root, e.Name())
		pids, _ := filepath.Glob(filepath.Join(dir, "*", "server.pid"))
		for _, f := range pids {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && p > 0 && alive(p) && ours(p, dir) {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", dir, err))
			continue
		}
		removed = append(removed, dir)
	}
	return removed, errors.Join(errs...)
}

func alive(pid int) bool {
	if pid == os.Getpid() {
		return true
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// ours says whether pid's command line names the folder, so a recycled pid
// of an unrelated process is never signalled.
func ours(pid int, dir string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.Contains(string(b), dir)
}
