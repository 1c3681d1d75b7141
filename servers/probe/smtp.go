package probe

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// Addresses used by the SMTP probe. The server accepts any.
const (
	smtpFrom  = "probe@firstbyte.test"
	smtpTo    = "sink@firstbyte.test"
	smtpHelo  = "firstbyte-probe.local"
	msgIDHost = "firstbyte.probe"
)

// exchangeSMTP runs a full mail transaction (greeting, EHLO, MAIL, RCPT,
// DATA, QUIT) with go-smtp's client and a unique Message-ID, then asks
// cfg.ConfirmSMTP, if set, whether the server holds the message.
func exchangeSMTP(ctx context.Context, cfg Config, dial DialFunc) (string, error) {
	conn, err := dial(ctx, "tcp", cfg.Addr)
	if err != nil {
		return "", fmt.Errorf("smtp: connect: %w", err)
	}
	// go-smtp has no context support: closing the socket is what unblocks it.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	c := smtp.NewClient(conn)
	defer c.Close()
	c.CommandTimeout = cfg.Budget + cfg.Exchange
	c.SubmissionTimeout = cfg.Budget + cfg.Exchange

	if err := c.Hello(smtpHelo); err != nil {
		return "", fmt.Errorf("smtp: greeting and EHLO: %w", err)
	}
	if err := c.Mail(smtpFrom, nil); err != nil {
		return "", fmt.Errorf("smtp: MAIL FROM: %w", err)
	}
	if err := c.Rcpt(smtpTo, nil); err != nil {
		return "", fmt.Errorf("smtp: RCPT TO: %w", err)
	}
	data, err := c.Data()
	if err != nil {
		return "", fmt.Errorf("smtp: DATA: %w", err)
	}
	messageID := cfg.MessageID
	if messageID == "" {
		if messageID, err = newMessageID(); err != nil {
			return "", err
		}
	}
	if _, err := data.Write([]byte(composeMessage(messageID, time.Now()))); err != nil {
		return "", fmt.Errorf("smtp: write message: %w", err)
	}
	if err := data.Close(); err != nil {
		return "", fmt.Errorf("smtp: end of DATA (want 250): %w", err)
	}
	if err := c.Quit(); err != nil {
		return "", fmt.Errorf("smtp: QUIT: %w", err)
	}
	if cfg.ConfirmSMTP == nil {
		return fmt.Sprintf("delivered %s: 250 after DATA (no server-side confirmation hook, so the 250 is the confirmation)", messageID), nil
	}
	if err := cfg.ConfirmSMTP(ctx, messageID); err != nil {
		return "", fmt.Errorf("smtp: 250 after DATA but delivery of %s not confirmed on the server: %w", messageID, err)
	}
	return fmt.Sprintf("delivered %s: 250 after DATA and confirmed on the server", messageID), nil
}

func newMessageID() (string, error) {
	id, err := randomHex(12)
	if err != nil {
		return "", fmt.Errorf("smtp: Message-ID: %w", err)
	}
	return "<" + id + "@" + msgIDHost + ">", nil
}

func composeMessage(messageID string, now time.Time) string {
	lines := []string{
		"From: firstbyte probe <" + smtpFrom + ">",
		"To: <" + smtpTo + ">",
		"Subject: firstbyte probe " + messageID,
		"Message-ID: " + messageID,
		"Date: " + now.Format(time.RFC1123Z),
		"",
		"Sent by the firstbyte SMTP probe to check that a server-first",
		"greeting reaches the client.",
		"",
	}
	return strings.Join(lines, "\r\n")
}
