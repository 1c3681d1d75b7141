package probe

import (
	"context"
	"database/sql/driver"
	"fmt"
	"io"

	"github.com/go-sql-driver/mysql"

	"github.com/firstbyte/firstbyte/servers/mysqlserver"
)

// exchangeMySQL logs in with go-sql-driver/mysql and runs SELECT 1.
//
// It uses the driver's Connector directly instead of database/sql: the pool
// in database/sql silently redials after driver.ErrBadConn, which would turn
// one probe into several connections. Here one probe is one dial.
func exchangeMySQL(ctx context.Context, cfg Config, dial DialFunc) (string, error) {
	mc := mysql.NewConfig()
	mc.User = mysqlserver.DefaultUser
	mc.Passwd = mysqlserver.DefaultPassword
	if cfg.User != "" {
		mc.User, mc.Passwd = cfg.User, cfg.Password
	}
	mc.Net = "tcp"
	mc.Addr = cfg.Addr
	mc.DialFunc = dial
	// The probe enforces the budget by closing the socket; these only stop
	// a driver that outlives a probe whose caller went away.
	mc.ReadTimeout = cfg.Budget + cfg.Exchange
	mc.WriteTimeout = cfg.Budget + cfg.Exchange
	mc.Logger = &mysql.NopLogger{}
	connector, err := mysql.NewConnector(mc)
	if err != nil {
		return "", fmt.Errorf("mysql: configure driver: %w", err)
	}

	conn, err := connector.Connect(ctx)
	if err != nil {
		return "", fmt.Errorf("mysql: connect and log in as %s: %w", mc.User, err)
	}
	defer conn.Close()
	queryer, ok := conn.(driver.QueryerContext)
	if !ok {
		return "", fmt.Errorf("mysql: driver connection %T cannot run queries", conn)
	}
	rows, err := queryer.QueryContext(ctx, "SELECT 1", nil)
	if err != nil {
		return "", fmt.Errorf("mysql: SELECT 1: %w", err)
	}
	defer rows.Close()
	row := make([]driver.Value, len(rows.Columns()))
	if len(row) != 1 {
		return "", fmt.Errorf("mysql: SELECT 1 returned %d columns, want 1", len(row))
	}
	if err := rows.Next(row); err != nil {
		return "", fmt.Errorf("mysql: SELECT 1 returned no row: %w", err)
	}
	if !isOne(row[0]) {
		return "", fmt.Errorf("mysql: SELECT 1 returned %v, want 1", row[0])
	}
	if err := rows.Next(row); err != io.EOF {
		return "", fmt.Errorf("mysql: SELECT 1 returned more than one row (next: %v)", err)
	}
	return fmt.Sprintf("handshake received, logged in as %s, SELECT 1 returned 1", mc.User), nil
}

// isOne accepts 1 in either form the text protocol may deliver it: the
// driver parses integer columns to int64, older servers' types arrive as
// bytes.
func isOne(v driver.Value) bool {
	switch v := v.(type) {
	case int64:
		return v == 1
	case []byte:
		return string(v) == "1"
	}
	return false
}
