package smtpserver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/mail"
	"slices"
	"sync"
	"time"
)

// Message is one delivered message as the server saw it.
type Message struct {
	From       string    `json:"from"`
	To         []string  `json:"to"`
	MessageID  string    `json:"messageId"` // Message-ID header, angle brackets included
	Subject    string    `json:"subject"`
	Data       string    `json:"data"` // the full message as received after DATA
	ReceivedAt time.Time `json:"receivedAt"`
}

// Mailbox records delivered messages in memory. It is safe for concurrent
// use. Its zero value is an empty mailbox.
type Mailbox struct {
	mu       sync.Mutex
	messages []Message
}

// NewMailbox returns an empty mailbox.
func NewMailbox() *Mailbox { return &Mailbox{} }

func (m *Mailbox) deliver(from string, to []string, data []byte) {
	msg := Message{From: from, To: slices.Clone(to), Data: string(data), ReceivedAt: time.Now().UTC()}
	// Headers are best effort: a message without parseable headers is still
	// a delivered message.
	if parsed, err := mail.ReadMessage(bytes.NewReader(data)); err == nil {
		msg.MessageID = parsed.Header.Get("Message-ID")
		msg.Subject = parsed.Header.Get("Subject")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.messages = append(m.messages, msg)
}

// Messages returns a copy of all delivered messages, oldest first.
func (m *Mailbox) Messages() []Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.messages)
}

// Find returns the message with the given Message-ID header (angle brackets
// included, as in the header).
func (m *Mailbox) Find(messageID string) (Message, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, msg := range m.messages {
		if msg.MessageID == messageID {
			return msg, true
		}
	}
	return Message{}, false
}

// MessageIDParam is the query parameter that filters ServeHTTP's list to one
// Message-ID.
const MessageIDParam = "message-id"

// ServeHTTP answers GET with the delivered messages as a JSON array. With
// ?message-id=<id> it lists only that message and answers 404 with an empty
// array when it has not been delivered, so a confirmation is one request.
func (m *Mailbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	msgs := m.Messages()
	status := http.StatusOK
	if id := r.URL.Query().Get(MessageIDParam); id != "" {
		msgs = slices.DeleteFunc(msgs, func(msg Message) bool { return msg.MessageID != id })
		if len(msgs) == 0 {
			status = http.StatusNotFound
		}
	}
	if msgs == nil {
		msgs = []Message{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // Message-IDs and addresses keep their <>
	_ = enc.Encode(msgs)
}
