package predict

import (
	"errors"
	"strings"
	"testing"
)

// A sync wait that ran out is not called a rejection of the input, and a
// rejection still is.
func TestGeneratorFailedNamesTimeouts(t *testing.T) {
	timeout := generatorFailed("the mesh", errors.New("retry.UntilOrFail: timeout while waiting after 2480 attempts (last error: expected condition not met)"))
	if s := timeout.Error(); strings.Contains(s, "rejected") || !strings.Contains(s, "run again") {
		t.Errorf("a sync timeout reads %q: want no \"rejected\", and the fix (run again)", s)
	}
	rejected := generatorFailed("the mesh", errors.New(`admission webhook: invalid port name`))
	if s := rejected.Error(); !strings.Contains(s, "rejected the mesh") {
		t.Errorf("a rejection reads %q: want \"rejected the mesh\"", s)
	}
}
