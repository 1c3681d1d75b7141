// Package golden compares a test's large output with a gzip-compressed
// golden file (testdata/*.gz), byte for byte: analyze's reports and
// predict's explain traces on whole catalogues and generated meshes,
// which must not change when the code under them gets faster.
package golden

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"testing"
)

// Compare fails t unless got equals the golden file at path, both passed
// through normalize when it is not nil; with update it first rewrites
// the file from got. flag names the test's update flag, for the message.
func Compare(t testing.TB, path string, got []byte, update bool, flag string, normalize func([]byte) []byte) {
	t.Helper()
	if update {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		zw.Write(got)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("reading the golden file: %v (write it with %s)", err, flag)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	want, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if normalize != nil {
		got, want = normalize(got), normalize(want)
	}
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
	for i := range min(len(gl), len(wl)) {
		if !bytes.Equal(gl[i], wl[i]) {
			t.Fatalf("output differs from %s at line %d:\ngot  %.300s\nwant %.300s\n(an intended change: rerun with %s)", path, i+1, gl[i], wl[i], flag)
		}
	}
	t.Fatalf("output differs from %s: %d lines, want %d (an intended change: rerun with %s)", path, len(gl), len(wl), flag)
}
