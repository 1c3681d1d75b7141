package mongoserver_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/firstbyte/firstbyte/servers/mongoserver"
)

func connect(t *testing.T) *mongo.Client {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mongoserver.New().Serve(ctx, l) }()

	client, err := mongo.Connect(options.Client().
		ApplyURI("mongodb://" + l.Addr().String() + "/?directConnection=true").
		SetServerSelectionTimeout(3 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = client.Disconnect(context.Background())
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve after shutdown: %v", err)
		}
	})
	return client
}

func TestInsertFind(t *testing.T) {
	ctx := context.Background()
	client := connect(t)
	if err := client.Ping(ctx, nil); err != nil {
		t.Fatalf("ping: %v", err)
	}
	coll := client.Database("db").Collection("things")
	docs := []any{
		bson.D{{Key: "kind", Value: "a"}, {Key: "n", Value: 1}},
		bson.D{{Key: "kind", Value: "b"}, {Key: "n", Value: 2}},
		bson.D{{Key: "kind", Value: "a"}, {Key: "n", Value: 3}},
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatalf("insert: %v", err)
	}

	cur, err := coll.Find(ctx, bson.D{{Key: "kind", Value: "a"}})
	if err != nil {
		t.Fatalf("find: %v", err)
	}
	var found []struct {
		Kind string `bson:"kind"`
		N    int    `bson:"n"`
	}
	if err := cur.All(ctx, &found); err != nil {
		t.Fatalf("read cursor: %v", err)
	}
	if len(found) != 2 || found[0].N != 1 || found[1].N != 3 {
		t.Errorf("find kind=a returned %+v", found)
	}

	n, err := coll.CountDocuments(ctx, bson.D{})
	if err == nil {
		t.Errorf("count (an aggregate, unsupported) succeeded with %d", n)
	}

	// Another database does not see the documents.
	if err := client.Database("other").Collection("things").FindOne(ctx, bson.D{}).Err(); !errors.Is(err, mongo.ErrNoDocuments) {
		t.Errorf("find in other db: %v, want no documents", err)
	}
}

func TestUnknownCommand(t *testing.T) {
	client := connect(t)
	err := client.Database("admin").RunCommand(context.Background(), bson.D{{Key: "frobnicate", Value: 1}}).Err()
	var cmdErr mongo.CommandError
	if !errors.As(err, &cmdErr) || cmdErr.Code != 59 || cmdErr.Name != "CommandNotFound" {
		t.Fatalf("unknown command: got %v, want CommandNotFound (59)", err)
	}
}

func TestUnsupportedFilterIsAnError(t *testing.T) {
	client := connect(t)
	err := client.Database("db").Collection("c").FindOne(context.Background(),
		bson.D{{Key: "n", Value: bson.D{{Key: "$gt", Value: 1}}}}).Err()
	var cmdErr mongo.CommandError
	if !errors.As(err, &cmdErr) || cmdErr.Code != 2 {
		t.Fatalf("$gt filter: got %v, want BadValue (2)", err)
	}
}
