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
// report runs to tens of MiB (each finding lists its scopes and hits), and
// more at 50,000, which the encoder would build in memory twice (compact,
// then indented) before writing.
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
// level of indent, each as json.MarshalIndent(f, "    ", "  ") writes it.
func writeFindingsJSON(w *bufio.Writer, fs []*Finding) error {
	if len(fs) == 0 {
		_, err := w.WriteString("[]")
		return err
	}
	w.WriteString("[\n")
	for i, f := range fs {
		b, err := json.MarshalIndent(f, "    ", "  ")
		if err != nil {
			return fmt.Errorf("writing finding %s as JSON: %w", f.ID, err)
		}
		w.WriteString("    ")
		w.Write(b)
		if i < len(fs)-1 {
			w.WriteByte(',')
		}
		w.WriteByte('\n')
	}
	_, err := w.WriteString("  ]")
	return err
}
