package probe

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/firstbyte/firstbyte/servers/smtpserver"
)

// ConfirmSMTPViaHTTP returns a Config.ConfirmSMTP hook that asks an SMTP
// server agent's status endpoint (messagesURL, e.g.
// http://smtp-server:8081/messages) whether it holds the message. It sends
// GET messagesURL?message-id=<id> and expects 200 with a JSON list that
// contains the message. client nil means http.DefaultClient.
func ConfirmSMTPViaHTTP(messagesURL string, client *http.Client) func(ctx context.Context, messageID string) error {
	if client == nil {
		client = http.DefaultClient
	}
	return func(ctx context.Context, messageID string) error {
		u, err := url.Parse(messagesURL)
		if err != nil {
			return fmt.Errorf("confirm URL %q: %w", messagesURL, err)
		}
		q := u.Query()
		q.Set(smtpserver.MessageIDParam, messageID)
		u.RawQuery = q.Encode()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return fmt.Errorf("confirm request: %w", err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("ask %s: %w", messagesURL, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return fmt.Errorf("read answer from %s: %w", messagesURL, err)
		}
		switch resp.StatusCode {
		case http.StatusOK:
		case http.StatusNotFound:
			return fmt.Errorf("%s has no message %s", messagesURL, messageID)
		default:
			return fmt.Errorf("%s answered %s", messagesURL, resp.Status)
		}
		var msgs []smtpserver.Message
		if err := json.Unmarshal(body, &msgs); err != nil {
			return fmt.Errorf("decode message list from %s: %w", messagesURL, err)
		}
		for _, m := range msgs {
			if m.MessageID == messageID {
				return nil
			}
		}
		return fmt.Errorf("%s listed %d messages but not %s", messagesURL, len(msgs), messageID)
	}
}
