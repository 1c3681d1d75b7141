// Package mysqlserver is a minimal MySQL server for probing: it sends the
// MySQL handshake first (the server-first property under test), authenticates
// one fixed user with mysql_native_password, and answers `SELECT 1` with a
// one-row result set.
//
// The wire protocol, handshake and authentication come from
// github.com/go-mysql-org/go-mysql/server; this package only supplies the
// query answers and the accept loop. TLS is not offered, so clients connect in
// plain text (as a client behind a sidecar does before mTLS wraps it).
//
// Answered queries (case-insensitive, trailing `;` ignored):
//
//	SELECT 1                          one row, column "1", value 1
//	SELECT @@max_allowed_packet       one row, 67108864
//	SELECT @@version, SELECT VERSION() one row, Version
//	SET ...                           OK (clients set session variables)
//
// Anything else gets MySQL error 1235 (ER_NOT_SUPPORTED_YET).
package mysqlserver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	gmserver "github.com/go-mysql-org/go-mysql/server"

	"github.com/firstbyte/firstbyte/servers/internal/acceptloop"
)

// Default credentials. The probe in servers/probe logs in with exactly these,
// so a real upstream MySQL used as the fidelity option needs this user too.
const (
	DefaultUser     = "firstbyte"
	DefaultPassword = "firstbyte"
)

// Version is the server version announced in the handshake.
const Version = "8.0.11-firstbyte"

// maxAllowedPacket is what `SELECT @@max_allowed_packet` returns (MySQL's
// default, 64 MiB).
const maxAllowedPacket = 64 << 20

// Server is a MySQL protocol server. The zero value is not usable; use New.
type Server struct {
	user, password string
	conf           *gmserver.Server
	auth           *gmserver.InMemoryAuthenticationHandler
	log            *slog.Logger
}

// Option configures a Server.
type Option func(*Server)

// WithCredentials replaces the default user and password.
func WithCredentials(user, password string) Option {
	return func(s *Server) { s.user, s.password = user, password }
}

// WithLogger sets where per-connection failures are logged (default: nowhere).
func WithLogger(l *slog.Logger) Option {
	return func(s *Server) { s.log = l }
}

// New returns a server that accepts DefaultUser/DefaultPassword unless
// WithCredentials says otherwise.
func New(opts ...Option) (*Server, error) {
	s := &Server{
		user:     DefaultUser,
		password: DefaultPassword,
		// No TLS config and no RSA key: mysql_native_password needs neither,
		// and skipping NewDefaultServer avoids generating RSA keys at start.
		conf: gmserver.NewServer(Version, gomysql.DEFAULT_COLLATION_ID, gomysql.AUTH_NATIVE_PASSWORD, nil, nil),
		log:  slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(s)
	}
	// The handler's default plugin must match the server's, or the server
	// asks native-password clients to switch to caching_sha2_password.
	s.auth = gmserver.NewInMemoryAuthenticationHandler(gomysql.AUTH_NATIVE_PASSWORD)
	if err := s.auth.AddUser(s.user, s.password); err != nil {
		return nil, fmt.Errorf("mysql: add user %q: %w", s.user, err)
	}
	return s, nil
}

// Serve accepts MySQL clients on l until ctx is done, then closes l and all
// client connections. It returns nil after a shutdown through ctx and the
// accept error otherwise.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	return acceptloop.Serve(ctx, l, s.serveConn)
}

func (s *Server) serveConn(_ context.Context, c net.Conn) {
	// NewCustomizedConn writes the handshake greeting at once: this is the
	// server-first byte a probe waits for.
	conn, err := s.conf.NewCustomizedConn(c, s.auth, handler{})
	if err != nil {
		s.log.Info("mysql: handshake failed", "remote", c.RemoteAddr(), "err", err)
		return
	}
	for !conn.Closed() {
		if err := conn.HandleCommand(); err != nil {
			if !conn.Closed() {
				s.log.Info("mysql: command failed", "remote", c.RemoteAddr(), "err", err)
			}
			return
		}
	}
}

// handler answers the few queries a probe or a connecting client sends.
type handler struct{}

func (handler) UseDB(string) error { return nil }

func (handler) HandleQuery(query string) (*gomysql.Result, error) {
	q := normalize(query)
	switch {
	case q == "select 1":
		return singleValue("1", int64(1))
	case q == "select @@max_allowed_packet":
		return singleValue("@@max_allowed_packet", int64(maxAllowedPacket))
	case q == "select @@version" || q == "select version()":
		return singleValue(strings.TrimPrefix(q, "select "), Version)
	case strings.HasPrefix(q, "set "):
		return nil, nil
	}
	return nil, gomysql.NewError(gomysql.ER_NOT_SUPPORTED_YET,
		fmt.Sprintf("firstbyte mysqlserver answers only SELECT 1, got %q", query))
}

func (handler) HandleFieldList(table, _ string) ([]*gomysql.Field, error) {
	return nil, gomysql.NewError(gomysql.ER_NOT_SUPPORTED_YET, "field list is not supported: no table "+table)
}

func (handler) HandleStmtPrepare(query string) (int, int, any, error) {
	return 0, 0, nil, gomysql.NewError(gomysql.ER_NOT_SUPPORTED_YET,
		fmt.Sprintf("prepared statements are not supported: %q", query))
}

func (handler) HandleStmtExecute(_ any, query string, _ []any) (*gomysql.Result, error) {
	return nil, gomysql.NewError(gomysql.ER_NOT_SUPPORTED_YET,
		fmt.Sprintf("prepared statements are not supported: %q", query))
}

func (handler) HandleStmtClose(any) error { return nil }

func (handler) HandleOtherCommand(cmd byte, _ []byte) error {
	return gomysql.NewError(gomysql.ER_UNKNOWN_COM_ERROR, fmt.Sprintf("command %d is not supported", cmd))
}

func singleValue(column string, value any) (*gomysql.Result, error) {
	rs, err := gomysql.BuildSimpleTextResultset([]string{column}, [][]any{{value}})
	if err != nil {
		return nil, fmt.Errorf("build result set for %s: %w", column, err)
	}
	return gomysql.NewResult(rs), nil
}

// normalize lower-cases a query and strips a trailing semicolon and extra
// whitespace, so "SELECT  1;" and "select 1" are the same question.
func normalize(q string) string {
	q = strings.TrimSpace(q)
	q = strings.TrimSuffix(q, ";")
	return strings.ToLower(strings.Join(strings.Fields(q), " "))
}
