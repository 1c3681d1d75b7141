package envoy

import "testing"

// TestHTTPConnectionManager: a silent client waits, an HTTP request is
// routed, anything else is a 400 and a close.
func TestHTTPConnectionManager(t *testing.T) {
	cases := []struct {
		sends ClientBytes
		want  HCMAction
	}{
		{NoClientBytes, HCMWaitsForRequest},
		{HTTPRequest, HCMRoutes},
		{OpaqueBytes, HCMBadRequest},
		{TLSClientHello, HCMBadRequest},
	}
	for _, c := range cases {
		t.Run(string(c.sends), func(t *testing.T) {
			if got := HTTPConnectionManager(c.sends); got != c.want {
				t.Errorf("HTTPConnectionManager(%s) = %q, want %q", c.sends, got, c.want)
			}
		})
	}
}
