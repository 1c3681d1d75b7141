package smtpserver_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/firstbyte/firstbyte/servers/smtpserver"
)

func startServer(t *testing.T) (string, *smtpserver.Mailbox) {
	t.Helper()
	mb := smtpserver.NewMailbox()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- smtpserver.New(mb).Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve after shutdown: %v", err)
		}
	})
	return l.Addr().String(), mb
}

// send delivers one message over plain SMTP (smtp.SendMail insists on
// STARTTLS, which the server does not offer).
func send(t *testing.T, addr string, to ...string) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	if err := c.SendMail("a@x.test", to, strings.NewReader(message)); err != nil {
		t.Fatalf("send: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatalf("quit: %v", err)
	}
}

const message = "Message-ID: <abc@test>\r\nSubject: hello there\r\n\r\nbody\r\n"

func TestDeliveryIsRecorded(t *testing.T) {
	addr, mb := startServer(t)
	send(t, addr, "b@y.test", "c@y.test")
	msg, ok := mb.Find("<abc@test>")
	if !ok {
		t.Fatalf("message not found; mailbox: %+v", mb.Messages())
	}
	if msg.From != "a@x.test" || len(msg.To) != 2 || msg.Subject != "hello there" || !strings.Contains(msg.Data, "body") {
		t.Errorf("stored %+v", msg)
	}
}

func TestGreetingComesFirst(t *testing.T) {
	addr, _ := startServer(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64)
	n, err := c.Read(buf) // without writing anything
	if err != nil || !strings.HasPrefix(string(buf[:n]), "220 ") {
		t.Fatalf("first bytes %q, %v; want a 220 greeting", buf[:n], err)
	}
}

func TestMailboxHTTP(t *testing.T) {
	addr, mb := startServer(t)
	send(t, addr, "b@y.test")
	status := httptest.NewServer(mb)
	defer status.Close()

	get := func(id string) (int, []smtpserver.Message) {
		t.Helper()
		u := status.URL + "/messages"
		if id != "" {
			u += "?" + smtpserver.MessageIDParam + "=" + url.QueryEscape(id)
		}
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var msgs []smtpserver.Message
		if err := json.NewDecoder(resp.Body).Decode(&msgs); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, msgs
	}
	if code, msgs := get(""); code != http.StatusOK || len(msgs) != 1 {
		t.Errorf("all: %d %+v", code, msgs)
	}
	if code, msgs := get("<abc@test>"); code != http.StatusOK || len(msgs) != 1 || msgs[0].MessageID != "<abc@test>" {
		t.Errorf("by id: %d %+v", code, msgs)
	}
	if code, msgs := get("<nope@test>"); code != http.StatusNotFound || len(msgs) != 0 {
		t.Errorf("missing id: %d %+v", code, msgs)
	}
}
