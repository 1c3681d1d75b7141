package podexec

import "testing"

func TestLastJSONLine(t *testing.T) {
	got, err := LastJSONLine([]byte("warning: something\n{\"outcome\":\"hung\"}\n\n"))
	if err != nil || string(got) != `{"outcome":"hung"}` {
		t.Errorf("LastJSONLine = %q, %v", got, err)
	}
	if _, err := LastJSONLine([]byte("exec failed: no such file\n")); err == nil {
		t.Error("LastJSONLine found JSON in plain text")
	}
}
