// Package probe runs one real client exchange against a server with a
// bounded budget and classifies what happened as a scenarios.Outcome.
//
// # Clients
//
// Only real clients speak: MySQL is github.com/go-sql-driver/mysql (connect,
// log in as firstbyte/firstbyte — mysqlserver.DefaultUser/DefaultPassword —
// and SELECT 1), SMTP is github.com/emersion/go-smtp's client (greeting,
// EHLO, MAIL, RCPT, DATA with a unique Message-ID, QUIT, then the optional
// server-side confirmation), Mongo is the official driver
// go.mongodb.org/mongo-driver/v2 (hello during connection setup, then ping,
// insert and find of the inserted document), DNS over TCP is
// github.com/miekg/dns's client (an A query and a TXT query whose answer
// echoes a fresh label, on one connection).
//
// # Observation on the wire
//
// Every TCP connection a driver opens is dialed through the probe, which
// wraps it and records the connect time, the time of the first Read that
// returned bytes, the number of bytes read and how the peer ended a
// connection. Verdicts are taken from these raw-socket facts, never from
// driver error text. Drivers may dial more than once (Mongo opens a
// monitoring and an application connection); the facts are aggregated over
// all connections of one probe: the first connect starts the budget, a byte
// on any connection counts as the first server byte. The MySQL probe uses the
// driver's Connector directly, not database/sql's pool, so a bad connection
// is not silently redialled; the Mongo probe uses a direct connection,
// polling monitoring with a one-minute heartbeat and no retries.
//
// The probe enforces the budget itself: when it expires without a server
// byte it closes every socket of the probe, refuses further dials and
// returns at once, whatever the driver's own timeouts. The verdict comes at
// connect + budget plus timer latency (see cmd/probebench).
//
// # Classification
//
// In order of precedence:
//
//	refused         the TCP connect failed: ECONNREFUSED, or any other dial
//	                error (timeout, unreachable); Detail says which.
//	hung            TCP connected, and no server byte within Budget of the
//	                first connect.
//	reset           TCP connected, then the peer closed (EOF, EPIPE) or reset
//	                (ECONNRESET) a connection before any server byte; an
//	                ECONNRESET reported by connect itself counts here too,
//	                because the handshake had completed. Detail says which.
//	protocol-error  server bytes arrived but the exchange failed or did not
//	                finish within Exchange after the first byte; also an SMTP
//	                delivery the ConfirmSMTP hook could not confirm.
//	connected       the full exchange succeeded. For SMTP with a ConfirmSMTP
//	                hook (the agent's --confirm-url) the server confirmed the
//	                Message-ID; without one, the 250 after DATA is the
//	                confirmation and Detail says so.
//
// Three corner cases also end as protocol-error, with Detail explaining: a
// client that gives up after connecting but before any server byte and
// before the budget (not seen with these drivers), a ctx cancelled before
// the verdict, and an invalid Config.
//
// # Observed against the probetest peers (loopback, go test)
//
//	peer                mysql           smtp            mongo           dns
//	real server         connected       connected       connected       connected
//	silent acceptor     hung            hung            hung            hung
//	closed port         refused         refused         refused         refused
//	resetting acceptor  reset           reset           reset           reset
//	HTTP server         hung            hung            protocol-error  protocol-error
//
// The silent acceptor is what a sniffing sidecar does. Mongo hangs there
// too: it is client-first, but nobody answers its hello. An HTTP server
// also waits for the client to speak, so the server-first protocols
// deadlock with it exactly as with the sidecar; Mongo's hello gets a
// 400 Bad Request from it (4 server bytes read before the driver rejects
// "HTTP" as a message length), hence protocol-error. That 400 comes at once
// because httpbackend rejects non-method bytes as nginx and Envoy do; bare
// net/http (the agent's status endpoint, for one) waits for a line feed that
// the hello usually lacks, and Mongo hangs there. Against a resetting
// acceptor on loopback the RST often arrives before the kernel reports the
// connect, so connect itself returns ECONNRESET; otherwise the first read
// (or Mongo's first write) does. Both are reset.
//
// # JSON
//
// Observation marshals durations (timings and budget) as Go duration
// strings rounded to the microsecond, e.g. "250.867ms", "0s".
package probe
