package probe

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// disconnectGrace bounds the driver's goodbye (endSessions) after the
// exchange; it does not count towards the verdict.
const disconnectGrace = time.Second

// exchangeMongo connects with the official driver (hello happens during
// connection setup), then runs ping, insert and find and checks the inserted
// document comes back.
//
// The driver opens a monitoring connection and an application connection;
// both dial through the tracker. Direct connection, polling monitoring with a
// long heartbeat and no retries keep it to those two. A failed server check
// (the monitor's hello) cancels the exchange at once: without that the
// operations would sit in server selection until its timeout.
func exchangeMongo(ctx context.Context, cfg Config, dial DialFunc) (string, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	limit := cfg.Budget + cfg.Exchange
	opts := options.Client().
		SetHosts([]string{cfg.Addr}).
		SetDirect(true).
		SetDialer(contextDialer(dial)).
		SetAppName("firstbyte-probe").
		SetConnectTimeout(limit).
		SetServerSelectionTimeout(limit).
		SetHeartbeatInterval(time.Minute).
		SetServerMonitoringMode(options.ServerMonitoringModePoll).
		SetMaxPoolSize(1).
		SetRetryReads(false).
		SetRetryWrites(false).
		SetServerMonitor(&event.ServerMonitor{
			ServerHeartbeatFailed: func(e *event.ServerHeartbeatFailedEvent) {
				cancel(fmt.Errorf("server check (hello) failed: %w", e.Failure))
			},
		})
	if cfg.User != "" {
		// The root user of the upstream image lives in the admin database.
		opts.SetAuth(options.Credential{Username: cfg.User, Password: cfg.Password, AuthSource: "admin"})
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return "", fmt.Errorf("mongo: configure client: %w", err)
	}
	defer func() {
		dctx, dcancel := context.WithTimeout(context.Background(), disconnectGrace)
		defer dcancel()
		_ = client.Disconnect(dctx)
	}()

	// failed prefers the reason the exchange was cancelled over the
	// driver's generic "context canceled".
	failed := func(step string, err error) error {
		if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
			return fmt.Errorf("mongo: %s: %w", step, cause)
		}
		return fmt.Errorf("mongo: %s: %w", step, err)
	}
	if err := client.Ping(ctx, readpref.Primary()); err != nil {
		return "", failed("ping", err)
	}
	marker, err := randomHex(8)
	if err != nil {
		return "", err
	}
	coll := client.Database("firstbyte").Collection("probe")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "marker", Value: marker}}); err != nil {
		return "", failed("insert", err)
	}
	var found struct {
		Marker string `bson:"marker"`
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "marker", Value: marker}}).Decode(&found); err != nil {
		return "", failed("find", err)
	}
	if found.Marker != marker {
		return "", fmt.Errorf("mongo: find returned marker %q, want %q", found.Marker, marker)
	}
	return fmt.Sprintf("hello, ping, insert and find round trip ok (marker %s)", marker), nil
}

// contextDialer adapts a DialFunc to the driver's options.ContextDialer.
type contextDialer DialFunc

func (d contextDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return d(ctx, network, addr)
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random marker: %w", err)
	}
	return hex.EncodeToString(b), nil
}
