package upstream

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// User is the MySQL account every MariaDB instance creates at start (its
// password is random per Servers, that is per suite process and run).
const User = "firstbyte"

// Root is where each suite process keeps its instances:
// <Root>/firstbyte-upstream-<pid>/. A tmpfs: MariaDB's datadir is written
// at every start, and nothing here must outlive the run.
const Root = "/dev/shm"

const dirPrefix = "firstbyte-upstream-"

// eximUser is the account Debian's Exim runs as; with -C it drops root and
// becomes this user, so its spool and mailbox belong to it.
const eximUser = "Debian-exim"

// ReadyTimeout bounds an instance's start-up until its own health check
// answers.
var ReadyTimeout = 60 * time.Second

// Servers starts the upstream instances of one suite process.
type Servers struct {
	dir      string
	password string
	// MariaDB and Exim name the implementations, e.g. "mariadb 10.11.19
	// (Debian mariadb-server 1:10.11.19-0+deb12u1)".
	MariaDB, Exim string

	templateMu   sync.Mutex
	templateDone bool
	seq          int
	mu           sync.Mutex
}

// New installs the packages if needed, reads their versions and makes the
// process's folder. Close removes it.
func New(ctx context.Context, progress func(string)) (*Servers, error) {
	if err := Install(ctx, progress); err != nil {
		return nil, err
	}
	s := &Servers{}
	for _, p := range []struct {
		pkg, name string
		into      *string
	}{{"mariadb-server", "mariadb", &s.MariaDB}, {"exim4-daemon-light", "exim", &s.Exim}} {
		v, err := PackageVersion(p.pkg)
		if err != nil {
			return nil, err
		}
		*p.into = fmt.Sprintf("%s %s (Debian %s %s)", p.name, upstreamVersion(v), p.pkg, v)
	}
	pw := make([]byte, 18)
	if _, err := rand.Read(pw); err != nil {
		return nil, err
	}
	s.password = hex.EncodeToString(pw)
	s.dir = filepath.Join(Root, dirPrefix+strconv.Itoa(os.Getpid()))
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("upstream servers' folder: %w", err)
	}
	// Exim, once it drops root, must traverse to its spool.
	if err := os.Chmod(s.dir, 0o755); err != nil {
		return nil, err
	}
	return s, nil
}

// Password is the MySQL password of User on every MariaDB instance.
func (s *Servers) Password() string { return s.password }

// Close removes the process's folder (stop the instances first).
func (s *Servers) Close() error { return os.RemoveAll(s.dir) }

func (s *Servers) instanceDir(kind string) (string, error) {
	s.mu.Lock()
	s.seq++
	n := s.seq
	s.mu.Unlock()
	d := filepath.Join(s.dir, fmt.Sprintf("%s-%d", kind, n))
	return d, os.MkdirAll(d, 0o755)
}

// Instance is one running server.
type Instance struct {
	Implementation string
	dir            string
	cmd            *exec.Cmd
	exited         chan struct{}
	waitErr        error
	// mailbox is Exim's delivery file.
	mailbox string
}

// Close stops the server (SIGTERM, SIGKILL after 10s) and removes its
// folder. Safe to call twice.
func (i *Instance) Close() error {
	if i == nil || i.cmd == nil {
		return nil
	}
	select {
	case <-i.exited:
	default:
		_ = i.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-i.exited:
		case <-time.After(10 * time.Second):
			_ = i.cmd.Process.Kill()
			<-i.exited
		}
	}
	return os.RemoveAll(i.dir)
}

// start runs argv inside the network namespace netns (ip netns exec execs
// the program itself, so the process is the server). The server gets
// SIGKILL if this process dies without stopping it (while it keeps the
// credentials it started with); Sweep covers the rest.
func (s *Servers) start(dir, netns string, logFile string, argv ...string) (*Instance, error) {
	args := append([]string{"netns", "exec", netns}, argv...)
	cmd := exec.Command("ip", args...)
	log, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s in %s: %w", argv[0], netns, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "server.pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		_ = cmd.Process.Kill()
		return nil, err
	}
	i := &Instance{dir: dir, cmd: cmd, exited: make(chan struct{})}
	go func() {
		i.waitErr = cmd.Wait()
		close(i.exited)
	}()
	return i, nil
}

// waitReady polls check until it succeeds, the process exits or
// ReadyTimeout passes. It is a health check, not a sleep: the poll
// interval only spaces the checks.
func (i *Instance) waitReady(ctx context.Context, what, logFile string, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	var last error
	for {
		if last = check(ctx); last == nil {
			return nil
		}
		select {
		case <-i.exited:
			return fmt.Errorf("%s exited before it was ready (%v); its log %s ends:\n%s", what, i.waitErr, logFile, readTail(logFile))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: last check: %v; its log %s ends:\n%s", what, ReadyTimeout, last, logFile, readTail(logFile))
		case <-time.After(25 * time.Millisecond):
		}
	}
}

func readTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return tail(string(b), 10)
}

// mariadbOptions are the server options the template and every instance
// share (InnoDB's file sizes must match the template's). Small buffers:
// a scenario runs a handful of connections.
var mariadbOptions = []string{
	"--no-defaults",
	"--user=root",
	"--innodb-log-file-size=4M",
	"--innodb-data-file-path=ibdata1:4M:autoextend",
	"--innodb-buffer-pool-size=8M",
	"--performance-schema=OFF",
}

// template initialises a datadir once per process (mariadb-install-db);
// instances start from a copy, which is faster than initialising each. A
// failed attempt is removed and retried by the next caller.
func (s *Servers) template(ctx context.Context) (string, error) {
	s.templateMu.Lock()
	defer s.templateMu.Unlock()
	dir := filepath.Join(s.dir, "mariadb-template")
	if s.templateDone {
		return dir, nil
	}
	// mariadb-install-db reads --no-defaults only as its first argument.
	tmp := filepath.Join(s.dir, "mariadb-template-tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	// Its own tmpdir: the bootstrap's temporary tables in a shared /tmp
	// can be removed under it by other programs' clean-ups.
	args := append(append([]string{}, mariadbOptions...), "--datadir="+dir, "--tmpdir="+tmp, "--auth-root-authentication-method=normal", "--skip-test-db")
	out, err := exec.CommandContext(ctx, mariadbInstallDB, args...).CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("%s %s: %w\n%s", mariadbInstallDB, strings.Join(args, " "), err, firstLines(string(out), 25))
	}
	s.templateDone = true
	return dir, nil
}

func firstLines(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[:n]
	}
	return strings.Join(l, "\n")
}

// StartMariaDB starts a MariaDB server in the network namespace netns,
// listening on port at each address (0.0.0.0 for every address of the
// namespace), with User identified by Password, and returns once
// mariadb-admin ping answers over its socket.
func (s *Servers) StartMariaDB(ctx context.Context, netns string, addrs []netip.Addr, port int) (*Instance, error) {
	tmpl, err := s.template(ctx)
	if err != nil {
		return nil, err
	}
	dir, err := s.instanceDir("mariadb")
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if out, err := exec.CommandContext(ctx, "cp", "-a", tmpl, data).CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("copying the MariaDB template datadir: %w: %s", err, out)
	}
	init := filepath.Join(dir, "init.sql")
	sql := fmt.Sprintf("CREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED BY '%s';\n", User, s.password)
	if err := os.WriteFile(init, []byte(sql), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	var binds []string
	for _, a := range addrs {
		binds = append(binds, a.String())
	}
	sock := filepath.Join(dir, "mysqld.sock")
	logFile := filepath.Join(dir, "error.log")
	argv := append([]string{mariadbd}, mariadbOptions...)
	argv = append(argv,
		"--datadir="+data,
		"--tmpdir="+dir,
		"--socket="+sock,
		"--pid-file="+filepath.Join(dir, "mysqld.pid"),
		"--port="+strconv.Itoa(port),
		// MariaDB 10.11 takes a comma-separated list.
		"--bind-address="+strings.Join(binds, ","),
		// No DNS inside the world: a reverse lookup would delay the greeting.
		"--skip-name-resolve",
		"--init-file="+init,
		"--log-error="+logFile,
	)
	inst, err := s.start(dir, netns, logFile, argv...)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	inst.Implementation = s.MariaDB
	ping := func(ctx context.Context) error {
		out, err := exec.CommandContext(ctx, mariadbAdmin, "--no-defaults", "--socket="+sock, "--user=root", "--connect-timeout=2", "ping").CombinedOutput()
		if err != nil {
			return fmt.Errorf("mariadb-admin ping: %v: %s", err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	if err := inst.waitReady(ctx, "MariaDB in "+netns, logFile, ping); err != nil {
		return nil, errors.Join(err, inst.Close())
	}
	return inst, nil
}

// eximConfig is a whole Exim configuration: accept every recipient from
// anyone (the suite's own namespaces only) and deliver it to one mailbox
// file. Everything else is off: no DNS or ident lookups (no resolver in
// the world), no TLS (the probe speaks plaintext, and Exim would make a
// self-signed certificate at start).
const eximConfig = `primary_hostname = exim.firstbyte.test
spool_directory = {{dir}}/spool
log_file_path = {{dir}}/log/%slog
pid_file_path = {{dir}}/exim.pid
local_interfaces = <; {{interfaces}}
host_lookup =
rfc1413_hosts =
tls_advertise_hosts =
keep_environment =
acl_smtp_rcpt = accept_all

begin acl
accept_all:
  accept

begin routers
sink:
  driver = accept
  transport = mailbox

begin transports
mailbox:
  driver = appendfile
  file = {{dir}}/mail/sink
  user = Debian-exim
  group = Debian-exim
  mode = 0600
`

// StartExim starts an Exim daemon in the network namespace netns,
// listening on port at each address, and returns once each address
// answers with Exim's 220 greeting (dial opens connections inside the
// namespace). Exim has no health command of its own; its greeting is the
// check.
func (s *Servers) StartExim(ctx context.Context, netns string, addrs []netip.Addr, port int, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (*Instance, error) {
	dir, err := s.instanceDir("exim")
	if err != nil {
		return nil, err
	}
	u, err := user.Lookup(eximUser)
	if err != nil {
		return nil, fmt.Errorf("the %s account of the exim4 package: %w (reinstall exim4-base)", eximUser, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, sub := range []string{"spool", "log", "mail"} {
		p := filepath.Join(dir, sub)
		if err := os.MkdirAll(p, 0o750); err != nil {
			return nil, err
		}
		if err := os.Chown(p, uid, gid); err != nil {
			return nil, err
		}
	}
	var ifs []string
	for _, a := range addrs {
		ifs = append(ifs, fmt.Sprintf("%s.%d", a, port))
	}
	conf := strings.NewReplacer("{{dir}}", dir, "{{interfaces}}", strings.Join(ifs, " ; ")).Replace(eximConfig)
	confFile := filepath.Join(dir, "exim.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	// Exim gives up root when started with -C, so a port below 1024
	// (SMTP's 25) needs the namespace to allow unprivileged binds; the
	// setting is per network namespace and dies with it.
	if port < 1024 {
		if out, err := exec.CommandContext(ctx, "ip", "netns", "exec", netns, "sysctl", "-qw", "net.ipv4.ip_unprivileged_port_start=0").CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("allowing Exim (unprivileged with -C) to bind port %d in %s: %w: %s", port, netns, err, out)
		}
	}
	logFile := filepath.Join(dir, "daemon.log")
	inst, err := s.start(dir, netns, logFile, exim4, "-C", confFile, "-bdf", "-oP", filepath.Join(dir, "exim.pid"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	inst.Implementation = s.Exim
	inst.mailbox = filepath.Join(dir, "mail", "sink")
	greet := func(ctx context.Context) error {
		for _, a := range addrs {
			target := a
			if a.IsUnspecified() {
				target = netip.AddrFrom4([4]byte{127, 0, 0, 1})
			}
			if err := greeting(ctx, dial, netip.AddrPortFrom(target, uint16(port)).String()); err != nil {
				return err
			}
		}
		return nil
	}
	if err := inst.waitReady(ctx, "Exim in "+netns, filepath.Join(dir, "log", "mainlog"), greet); err != nil {
		return nil, errors.Join(err, inst.Close())
	}
	return inst, nil
}

// greeting reads the 220 greeting at addr and says QUIT.
func greeting(ctx context.Context, dial func(ctx context.Context, network, addr string) (net.Conn, error), addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := dial(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("greeting at %s: %w", addr, err)
	}
	if !strings.HasPrefix(line, "220 ") {
		return fmt.Errorf("greeting at %s: %q, want 220", addr, strings.TrimSpace(line))
	}
	_, _ = c.Write([]byte("QUIT\r\n"))
	return nil
}

// Confirm waits until Exim has delivered the message with this Message-ID
// (angle brackets included) into the instance's mailbox: the probe's 250
// means Exim accepted it; delivery runs in a process of its own after.
func (i *Instance) Confirm(ctx context.Context, messageID string) error {
	if i.mailbox == "" {
		return fmt.Errorf("%s keeps no mailbox", i.Implementation)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	want := "Message-ID: " + messageID
	for {
		b, err := os.ReadFile(i.mailbox)
		if err == nil && strings.Contains(string(b), want) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("message %s is not in %s's mailbox %s after %s (Exim's log: %s)", messageID, i.Implementation, i.mailbox, 10*time.Second, filepath.Join(i.dir, "log", "mainlog"))
		case <-time.After(20 * time.Millisecond):
		}
	}
}
