package scenarios

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// rejection is the shape every loader error must have: file:line: field:
// problem, with a line of at least 1.
var rejection = regexp.MustCompile(`^fuzz\.yaml:[1-9][0-9]*: ([A-Za-z0-9_.()\[\]-]+|"(?:[^"\\]|\\.)*"): .+`)

// FuzzLoad feeds arbitrary bytes to the scenario-file loader. It must never
// panic; every rejection must be a *FieldError reading
// "fuzz.yaml:<line>: <field>: <problem>"; and every scenario it accepts
// must be complete, with an expectation that reads back as itself.
//
// The seed corpus is the examples, the catalogue and the files under
// testdata/fuzz/FuzzLoad (go test runs them on every `go test`); make
// bench runs a time-boxed search (-fuzz FuzzLoad -fuzztime 30s).
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("examples/*.yaml")
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, data := range catalogueData() {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		list, err := Parse("fuzz.yaml", data)
		if err != nil {
			checkRejection(t, err)
			return
		}
		if len(list) == 0 {
			t.Fatal("accepted a file with no scenarios")
		}
		for _, s := range list {
			checkAccepted(t, s)
		}
	})
}

func checkRejection(t *testing.T, err error) {
	t.Helper()
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("rejection is not a FieldError: %T %v", e, e)
		}
		if msg := strings.SplitN(fe.Error(), "\n", 2)[0]; !rejection.MatchString(msg) {
			t.Fatalf("rejection does not read file:line: field: problem: %q", fe.Error())
		}
	}
}

func checkAccepted(t *testing.T, s Scenario) {
	t.Helper()
	if s.ID == "" || s.Why == "" || s.Protocol == "" || s.Placement == "" || s.Family == "" || s.Source == "" {
		t.Fatalf("accepted an incomplete scenario: %+v", s)
	}
	if s.Port < 1 || s.Port > 65535 {
		t.Fatalf("accepted port %d", s.Port)
	}
	if _, ok := remediationRules[s.Remediation.Kind]; !ok {
		t.Fatalf("accepted remediation %q", s.Remediation.Kind)
	}
	if (s.Remediation.ServiceEntry != nil) != (DefaultServiceEntry(s.Remediation.Kind) != nil) {
		t.Fatalf("remediation %s with ServiceEntry form %v", s.Remediation.Kind, s.Remediation.ServiceEntry)
	}
	back, err := ParseExpectation(s.Expect.String())
	if err != nil || back != s.Expect {
		t.Fatalf("expectation %+v prints as %q, which reads back as %+v (%v)", s.Expect, s.Expect, back, err)
	}
	if m := s.EffectiveMesh(); m.ProtocolDetectionTimeout != nil && *m.ProtocolDetectionTimeout < 0 {
		t.Fatalf("accepted a negative detection timeout %s", *m.ProtocolDetectionTimeout)
	}
}
