// Package mongoserver is a minimal MongoDB server for probing: it speaks the
// MongoDB wire protocol well enough for the official Go driver
// (go.mongodb.org/mongo-driver/v2) to connect, ping, insert and find.
//
// MongoDB is the suite's client-first control: the driver sends `hello`
// before the server says anything, so a sniffing sidecar sees bytes and does
// not hold the connection.
//
// Supported:
//   - framing: OP_QUERY on <db>.$cmd (the driver's legacy first handshake
//     message, answered with OP_REPLY) and OP_MSG (body plus document
//     sequences, checksum flag and moreToCome honoured). Other opcodes,
//     including OP_COMPRESSED, close the connection; compression is never
//     advertised, so a well-behaved driver does not send it.
//   - commands: hello / isMaster, ping, insert, find (top-level equality
//     filters, limit, one batch with cursor id 0), endSessions. Anything else
//     is answered with ok: 0, code 59 (CommandNotFound).
//
// Collections live in memory for the life of the Server. Framing and message
// layout use the driver's own wiremessage and bson packages.
package mongoserver

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync/atomic"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"

	"github.com/firstbyte/firstbyte/servers/internal/acceptloop"
)

// Wire versions announced in hello. The driver (v2.10) refuses servers whose
// maxWireVersion is below 9 (MongoDB 4.4) or whose minWireVersion is above
// 29; 21 is MongoDB 7.0.
const (
	MinWireVersion = 0
	MaxWireVersion = 21
)

// maxMessageBytes is the largest wire message accepted, and announced as
// maxMessageSizeBytes (MongoDB's own limit).
const maxMessageBytes = 48_000_000

// Server is an in-memory MongoDB wire protocol server. Use New.
type Server struct {
	store  *store
	log    *slog.Logger
	connID atomic.Int32
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets where per-connection failures are logged (default:
// nowhere).
func WithLogger(l *slog.Logger) Option {
	return func(s *Server) { s.log = l }
}

// New returns a server with empty collections.
func New(opts ...Option) *Server {
	s := &Server{store: newStore(), log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Serve accepts driver connections on l until ctx is done, then closes l and
// all client connections. It returns nil after a shutdown through ctx and the
// accept error otherwise.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	return acceptloop.Serve(ctx, l, s.serveConn)
}

// serveConn answers requests one at a time: the driver never pipelines on a
// connection (exhaust cursors and streaming hello are not advertised).
func (s *Server) serveConn(_ context.Context, c net.Conn) {
	cs := &connState{server: s, id: s.connID.Add(1)}
	for {
		msg, err := readMessage(c)
		if err != nil {
			if err != io.EOF {
				s.log.Info("mongo: read message", "remote", c.RemoteAddr(), "err", err)
			}
			return
		}
		reply, err := cs.handle(msg)
		if err != nil {
			s.log.Info("mongo: bad request", "remote", c.RemoteAddr(), "err", err)
			return
		}
		if reply == nil {
			continue // moreToCome: the client expects no answer
		}
		if _, err := c.Write(reply); err != nil {
			s.log.Info("mongo: write reply", "remote", c.RemoteAddr(), "err", err)
			return
		}
	}
}

// readMessage reads one length-prefixed wire message, header included.
func readMessage(r io.Reader) ([]byte, error) {
	var lenBuf [4]byte
	if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
		return nil, err
	}
	size := int32(binary.LittleEndian.Uint32(lenBuf[:]))
	if size < 16 || size > maxMessageBytes {
		return nil, fmt.Errorf("wire message length %d outside [16, %d]", size, maxMessageBytes)
	}
	msg := make([]byte, size)
	copy(msg, lenBuf[:])
	if _, err := io.ReadFull(r, msg[4:]); err != nil {
		return nil, fmt.Errorf("read wire message body: %w", err)
	}
	return msg, nil
}

// connState is what a connection remembers between requests.
type connState struct {
	server *Server
	id     int32
}

// handle decodes one request and returns the encoded reply, or nil when the
// request asked for none.
func (cs *connState) handle(msg []byte) ([]byte, error) {
	_, requestID, _, opcode, body, ok := wiremessage.ReadHeader(msg)
	if !ok {
		return nil, fmt.Errorf("short wire message header")
	}
	switch opcode {
	case wiremessage.OpQuery:
		cmd, err := parseQuery(body)
		if err != nil {
			return nil, err
		}
		return encodeReply(requestID, cs.run(cmd)), nil
	case wiremessage.OpMsg:
		cmd, moreToCome, err := parseMsg(body)
		if err != nil {
			return nil, err
		}
		reply := cs.run(cmd)
		if moreToCome {
			return nil, nil
		}
		return encodeMsg(requestID, reply), nil
	default:
		return nil, fmt.Errorf("unsupported opcode %s", opcode)
	}
}

// encodeReply frames doc as an OP_REPLY to requestID (the legacy reply to
// OP_QUERY).
func encodeReply(requestID int32, doc []byte) []byte {
	idx, dst := wiremessage.AppendHeaderStart(nil, wiremessage.NextRequestID(), requestID, wiremessage.OpReply)
	dst = wiremessage.AppendReplyFlags(dst, 0)
	dst = wiremessage.AppendReplyCursorID(dst, 0)
	dst = wiremessage.AppendReplyStartingFrom(dst, 0)
	dst = wiremessage.AppendReplyNumberReturned(dst, 1)
	dst = append(dst, doc...)
	return bsoncore.UpdateLength(dst, idx, int32(len(dst)-int(idx)))
}

// encodeMsg frames doc as an OP_MSG with one body section.
func encodeMsg(requestID int32, doc []byte) []byte {
	idx, dst := wiremessage.AppendHeaderStart(nil, wiremessage.NextRequestID(), requestID, wiremessage.OpMsg)
	dst = wiremessage.AppendMsgFlags(dst, 0)
	dst = wiremessage.AppendMsgSectionType(dst, wiremessage.SingleDocument)
	dst = append(dst, doc...)
	return bsoncore.UpdateLength(dst, idx, int32(len(dst)-int(idx)))
}
