package analyze

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// writeReportJSON writes r as json.Encoder with two-space indent would,
// byte for byte, but one finding at a time: a 10,000-Service mesh's
// report runs to hundreds of MiB (each exposed finding lists its scopes,
// and a default scope names every workload), which the encoder would
// build in memory twice (compact, then indented) before writing.
func writeReportJSON(w io.Writer, r *Report) error {
	skeleton := *r
	skeleton.Findings, skeleton.Exposed = []*Finding{}, []*Finding{}
	head, err := json.MarshalIndent(&skeleton, "", "  ")
	if err != nil {
		return fmt.Errorf("writing the report as JSON: %w", err)
	}
	bw := bufio.NewWriter(w)
	for _, list := range []struct {
		key      string
		findings []*Finding
	}{{"findings", r.Findings}, {"exposed", r.Exposed}} {
		// The empty list of a top-level key, as MarshalIndent prints it;
		// a string cannot hold it, since it escapes its newlines.
		marker := []byte("\n  \"" + list.key + "\": []")
		i := bytes.Index(head, marker)
		if i < 0 {
			return fmt.Errorf("writing the report as JSON: no top-level %q in %.200s", list.key, head)
		}
		bw.Write(head[:i+len(marker)-2])
		if err := writeFindingsJSON(bw, list.findings); err != nil {
			return err
		}
		head = head[i+len(marker):]
	}
	bw.Write(head)
	bw.WriteByte('\n')
	return bw.Flush()
}

// writeFindingsJSON writes a list of findings at the report's second
// level of indent.
func writeFindingsJSON(w *bufio.Writer, fs []*Finding) error {
	if len(fs) == 0 {
		_, err := w.WriteString("[]")
		return err
	}
	w.WriteString("[\n")
	names := scopeNamesJSON{}
	for i, f := range fs {
		w.WriteString("    ")
		if err := names.writeFinding(w, f); err != nil {
			return fmt.Errorf("writing finding %s as JSON: %w", f.ID, err)
		}
		if i < len(fs)-1 {
			w.WriteByte(',')
		}
		w.WriteByte('\n')
	}
	_, err := w.WriteString("  ]")
	return err
}

// scopeNamesJSON holds each scope name's JSON string, encoded once: every
// finding lists its scopes by name, a default scope's name lists every
// workload, and encoding them anew for each finding was most of writing
// a 10,000-Service mesh's report (6 s of 23).
type scopeNamesJSON map[string][]byte

// scopesNull is the scopes key of a finding marshalled without scopes,
// at the indent writeFindingsJSON gives a finding's keys; a string
// cannot hold it, since it escapes its newlines.
const scopesNull = "\n      \"scopes\": null"

// writeFinding writes f as json.MarshalIndent(f, "    ", "  ") does,
// with its scope names from the cache, straight to w: a finding of a
// large mesh runs to megabytes, mostly its scope names.
func (c scopeNamesJSON) writeFinding(w *bufio.Writer, f *Finding) error {
	bare := *f
	bare.Scopes = nil
	b, err := json.MarshalIndent(&bare, "    ", "  ")
	if err != nil {
		return err
	}
	i := bytes.Index(b, []byte(scopesNull))
	if len(f.Scopes) == 0 || i < 0 {
		if b, err = json.MarshalIndent(f, "    ", "  "); err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	w.Write(b[:i+len(scopesNull)-len("null")])
	w.WriteString("[\n")
	for j, name := range f.Scopes {
		enc, ok := c[name]
		if !ok {
			if enc, err = json.Marshal(name); err != nil {
				return err
			}
			c[name] = enc
		}
		w.WriteString("        ")
		w.Write(enc)
		if j < len(f.Scopes)-1 {
			w.WriteByte(',')
		}
		w.WriteByte('\n')
	}
	w.WriteString("      ]")
	_, err = w.Write(b[i+len(scopesNull):])
	return err
}
