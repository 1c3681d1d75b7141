// Package upstream runs Debian's real servers for the local target's
// SERVERS=upstream option: MariaDB (package mariadb-server) for MySQL and
// Exim (exim4-daemon-light) for SMTP, one instance per scenario inside the
// scenario's world network namespace, each with its own datadir or spool
// under a temporary folder, stopped and removed when the scenario ends.
//
// Why Exim and not Postfix: Exim runs as one foreground daemon process
// from one configuration file (exim4 -C file -bdf) with its spool, log and
// mailbox wherever that file says, so an instance is a folder and a
// process; Postfix needs a master, a queue manager and a chroot-able
// queue, and a second instance needs postmulti. Delivery is confirmed by
// reading the instance's mailbox file for the probe's Message-ID, after
// Exim's own delivery process wrote it there.
//
// MongoDB is not packaged by Debian (its SSPL licence is not free software
// by Debian's guidelines), so SMTP and MySQL are the only protocols this
// package serves; the local target keeps the embedded server for Mongo.
//
// Packages are installed on demand (apt-get, as root) with a policy-rc.d
// that keeps their own services from starting on the host; the host has
// no systemd, and invoke-rc.d asks policy-rc.d before any start.
package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// The programs the instances run, by absolute path: root's PATH need not
// include /usr/sbin.
const (
	mariadbd         = "/usr/sbin/mariadbd"
	mariadbInstallDB = "/usr/bin/mariadb-install-db"
	mariadbAdmin     = "/usr/bin/mariadb-admin"
	exim4            = "/usr/sbin/exim4"
)

// Packages are the Debian packages Install puts on the machine.
var Packages = []string{"mariadb-server", "exim4-daemon-light"}

// installLock serialises Install across the parallel suite processes: two
// apt-get runs at once fail on dpkg's lock.
const installLock = "/run/firstbyte-upstream-install.lock"

// policyRCD is Debian's hook that invoke-rc.d asks before starting a
// service; exit 101 means "not allowed".
const policyRCD = "/usr/sbin/policy-rc.d"

func missing() []string {
	var out []string
	for _, p := range []string{mariadbd, mariadbInstallDB, mariadbAdmin, exim4} {
		if _, err := os.Stat(p); err != nil {
			out = append(out, p)
		}
	}
	return out
}

// Install makes sure the packages are installed, installing them with
// apt-get when a program is missing. progress receives one line per step.
func Install(ctx context.Context, progress func(string)) error {
	if len(missing()) == 0 {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("SERVERS=upstream needs %s, which are missing, and installing them needs root: run as root, or apt-get install %s, or use SERVERS=embedded", strings.Join(missing(), ", "), strings.Join(Packages, " "))
	}
	f, err := os.OpenFile(installLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("install lock %s: %w", installLock, err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("install lock %s: %w", installLock, err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	if len(missing()) == 0 { // another process installed them meanwhile
		return nil
	}
	if _, err := os.Stat(policyRCD); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(policyRCD, []byte("#!/bin/sh\n# firstbyte: keep services from starting while it installs packages\nexit 101\n"), 0o755); err != nil {
			return fmt.Errorf("writing %s (keeps the packages' own services from starting): %w", policyRCD, err)
		}
		defer os.Remove(policyRCD)
	}
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	steps := [][]string{
		{"apt-get", "update"},
		append([]string{"apt-get", "install", "-y", "--no-install-recommends"}, Packages...),
	}
	for _, args := range steps {
		if progress != nil {
			progress("SERVERS=upstream: " + strings.Join(args, " "))
		}
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w\n%s\nfix: install them by hand (apt-get install %s) or use SERVERS=embedded", strings.Join(args, " "), err, tail(out.String(), 20), strings.Join(Packages, " "))
		}
	}
	if m := missing(); len(m) > 0 {
		return fmt.Errorf("apt-get installed %s but %s is still missing", strings.Join(Packages, " "), strings.Join(m, ", "))
	}
	return nil
}

// PackageVersion is dpkg's version of an installed package.
func PackageVersion(pkg string) (string, error) {
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", pkg).Output()
	if err != nil {
		return "", fmt.Errorf("dpkg-query %s: %w", pkg, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// upstreamVersion strips Debian's epoch and revision: 1:10.11.19-0+deb12u1
// is MariaDB 10.11.19.
func upstreamVersion(debian string) string {
	v := debian
	if _, after, ok := strings.Cut(v, ":"); ok {
		v = after
	}
	if i := strings.LastIndex(v, "-"); i > 0 {
		v = v[:i]
	}
	return v
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}
