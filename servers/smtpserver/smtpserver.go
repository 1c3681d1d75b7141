// Package smtpserver is a minimal SMTP server for probing: it sends the 220
// greeting first (the server-first property under test), accepts any sender
// and recipient without authentication, and records every delivered message
// in an in-memory Mailbox so a probe can confirm delivery on the server side.
//
// The SMTP protocol comes from github.com/emersion/go-smtp; this package only
// supplies the session that stores messages. The Mailbox is also an
// http.Handler that lists the messages as JSON, which is how a probe in
// another pod confirms delivery (see the agent's /messages endpoint).
package smtpserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/emersion/go-smtp"
)

// Domain is the name the server announces in its greeting and EHLO reply.
const Domain = "firstbyte.local"

// maxMessageBytes bounds one message; probes send a few hundred bytes.
const maxMessageBytes = 1 << 20

// Server is an SMTP server that delivers into a Mailbox.
type Server struct {
	mailbox *Mailbox
	log     *slog.Logger
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets where connection errors are logged (default: nowhere).
func WithLogger(l *slog.Logger) Option {
	return func(s *Server) { s.log = l }
}

// New returns a server that delivers into mb.
func New(mb *Mailbox, opts ...Option) *Server {
	s := &Server{mailbox: mb, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Mailbox returns the mailbox the server delivers into.
func (s *Server) Mailbox() *Mailbox { return s.mailbox }

// Serve accepts SMTP clients on l until ctx is done, then closes l and all
// client connections. It returns nil after a shutdown through ctx and the
// serve error otherwise.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{mailbox: s.mailbox}, nil
	}))
	srv.Domain = Domain
	srv.MaxMessageBytes = maxMessageBytes
	srv.MaxRecipients = 50
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = slog.NewLogLogger(s.log.Handler(), slog.LevelInfo)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case <-ctx.Done():
		_ = srv.Close()
		<-errc
		return nil
	case err := <-errc:
		if errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
			return nil
		}
		return fmt.Errorf("smtp serve on %s: %w", l.Addr(), err)
	}
}

// session collects one mail transaction and hands it to the mailbox on DATA.
type session struct {
	mailbox *Mailbox
	from    string
	to      []string
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

// Data stores the message before returning, so by the time the client reads
// the 250 reply the message is visible in the mailbox.
func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("read message data: %w", err)
	}
	s.mailbox.deliver(s.from, s.to, data)
	return nil
}

func (s *session) Reset() {
	s.from = ""
	s.to = nil
}

func (s *session) Logout() error { return nil }
