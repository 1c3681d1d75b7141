package probe

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/firstbyte/firstbyte/scenarios"
)

// observationJSON is Observation's wire form: durations as Go duration
// strings, rounded to the microsecond, because a reader of a report line
// should see "203.117ms", not 203117000.
type observationJSON struct {
	Protocol    scenarios.Protocol `json:"protocol"`
	Addr        string             `json:"addr"`
	Outcome     scenarios.Outcome  `json:"outcome"`
	Timings     timingsJSON        `json:"timings"`
	Budget      string             `json:"budget"`
	ServerBytes int64              `json:"serverBytes"`
	Detail      string             `json:"detail"`
}

type timingsJSON struct {
	Connect   string `json:"connect"`
	FirstByte string `json:"firstByte"`
	Closed    string `json:"closed,omitempty"`
	Done      string `json:"done"`
}

func formatDuration(d time.Duration) string { return d.Round(time.Microsecond).String() }

// closedText leaves timings.closed out when the peer did not close, so
// observations of older agents and of connects read the same.
func closedText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return formatDuration(d)
}

// MarshalJSON writes durations as strings such as "1.002s" or "0s". (To
// keep the angle brackets of a Message-ID in Detail readable, encode with a
// json.Encoder with SetEscapeHTML(false); json.Marshal escapes them again.)
func (o Observation) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(observationJSON{
		Protocol: o.Protocol,
		Addr:     o.Addr,
		Outcome:  o.Outcome,
		Timings: timingsJSON{
			Connect:   formatDuration(o.Timings.Connect),
			FirstByte: formatDuration(o.Timings.FirstByte),
			Closed:    closedText(o.Timings.Closed),
			Done:      formatDuration(o.Timings.Done),
		},
		Budget:      formatDuration(o.Budget),
		ServerBytes: o.ServerBytes,
		Detail:      o.Detail,
	})
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), err
}

// UnmarshalJSON reads what MarshalJSON writes.
func (o *Observation) UnmarshalJSON(b []byte) error {
	var w observationJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	durations := []struct {
		field string
		in    string
		out   *time.Duration
	}{
		{"timings.connect", w.Timings.Connect, &o.Timings.Connect},
		{"timings.firstByte", w.Timings.FirstByte, &o.Timings.FirstByte},
		{"timings.closed", w.Timings.Closed, &o.Timings.Closed},
		{"timings.done", w.Timings.Done, &o.Timings.Done},
		{"budget", w.Budget, &o.Budget},
	}
	for _, d := range durations {
		if d.in == "" {
			*d.out = 0
			continue
		}
		v, err := time.ParseDuration(d.in)
		if err != nil {
			return fmt.Errorf("observation %s: %w", d.field, err)
		}
		*d.out = v
	}
	o.Protocol, o.Addr, o.Outcome = w.Protocol, w.Addr, w.Outcome
	o.ServerBytes, o.Detail = w.ServerBytes, w.Detail
	return nil
}
