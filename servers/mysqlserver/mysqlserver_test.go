package mysqlserver_test

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/firstbyte/firstbyte/servers/mysqlserver"
)

func startServer(t *testing.T, opts ...mysqlserver.Option) string {
	t.Helper()
	srv, err := mysqlserver.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve after shutdown: %v", err)
		}
	})
	return l.Addr().String()
}

func open(t *testing.T, addr, user, password string) *sql.DB {
	t.Helper()
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.Passwd = "tcp", addr, user, password
	cfg.Logger = &mysql.NopLogger{}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestSelectOne(t *testing.T) {
	db := open(t, startServer(t), mysqlserver.DefaultUser, mysqlserver.DefaultPassword)
	var one int
	if err := db.QueryRow("SELECT 1").Scan(&one); err != nil {
		t.Fatalf("SELECT 1: %v", err)
	}
	if one != 1 {
		t.Fatalf("SELECT 1 = %d", one)
	}
	var version string
	if err := db.QueryRow("select version();").Scan(&version); err != nil || version != mysqlserver.Version {
		t.Fatalf("version() = %q, %v", version, err)
	}
	if err := db.Ping(); err != nil {
		t.Fatalf("ping: %v", err)
	}
}

func TestUnsupportedQueryIsAMySQLError(t *testing.T) {
	db := open(t, startServer(t), mysqlserver.DefaultUser, mysqlserver.DefaultPassword)
	_, err := db.Exec("DROP TABLE users")
	var myErr *mysql.MySQLError
	if !errors.As(err, &myErr) || myErr.Number != 1235 {
		t.Fatalf("DROP TABLE: got %v, want MySQL error 1235", err)
	}
}

func TestCredentials(t *testing.T) {
	addr := startServer(t, mysqlserver.WithCredentials("app", "s3cret"))
	if err := open(t, addr, "app", "s3cret").Ping(); err != nil {
		t.Fatalf("custom credentials rejected: %v", err)
	}
	err := open(t, addr, "app", "wrong").Ping()
	var myErr *mysql.MySQLError
	if !errors.As(err, &myErr) || myErr.Number != 1045 {
		t.Fatalf("wrong password: got %v, want MySQL error 1045 (access denied)", err)
	}
}
